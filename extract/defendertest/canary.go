package defendertest

import (
	"fmt"
	"strings"
)

// CanaryDefinitions returns scan definitions whose scanAuthenticationParams
// carry a distinct canary in every field besides the variant and the type,
// in every variant and in the spellings the docs, examples, metadata and
// Microsoft365DSC use (KeyVaultUrl, isgmsaUser, $type...), plus a
// credential field sent outside scanAuthenticationParams and a
// scanAuthenticationParams that is no object. agent is the scanner agent
// of every one. It also returns every canary: none may reach a database,
// a log, an error or fetch's output.
func CanaryDefinitions(agent Agent) (defs []Definition, canaries []string) {
	canary := func(variant, field string) string {
		c := fmt.Sprintf("CANARY-%s-%s-%d", strings.TrimSuffix(variant, "AuthParams"), field, len(canaries))
		canaries = append(canaries, c)
		return c
	}
	variants := map[string][]string{
		"SnmpAuthParams": {"communityString", "username", "authProtocol", "authPassword", "privProtocol", "privPassword",
			"keyVaultUri", "keyVaultSecretName", "KeyVaultUrl", "vendorSecretField"},
		"WindowsAuthParams": {"username", "password", "domain", "isGmsaUser", "isgmsaUser", "IsGMSAUser", "packetPrivacy",
			"packetIntegrity", "keyVaultUri", "keyVaultSecretName"},
		"LinuxAuthParams": {"username", "password", "privateKey", "keyVaultUri", "keyVaultSecretName"},
	}
	types := map[string]string{"SnmpAuthParams": "AuthPriv", "WindowsAuthParams": "Kerberos", "LinuxAuthParams": "PrivateKey"}
	for i, variant := range []string{"SnmpAuthParams", "WindowsAuthParams", "LinuxAuthParams"} {
		fields := map[string]any{}
		for _, f := range variants[variant] {
			fields[f] = canary(variant, f)
		}
		// A nested value, as a key vault reference might be sent.
		fields["keyVault"] = map[string]any{"secret": canary(variant, "nested")}
		defs = append(defs, Definition{
			ID:            fmt.Sprintf("c0ffee00-0000-4000-8000-%012d", i),
			Name:          "Canary " + variant,
			ScanType:      strings.TrimSuffix(variant, "AuthParams"),
			IsActive:      true,
			IntervalHours: 4,
			Target:        fmt.Sprintf("10.99.%d.1", i),
			TargetType:    "Ip",
			ScannerAgent:  agent,
			Auth:          &AuthParams{Variant: variant, Type: types[variant], Fields: fields},
			// Credentials sent outside scanAuthenticationParams are
			// dropped too.
			Extra: map[string]any{"password": canary("top", "password"), "communityString": canary("top", "communityString")},
		})
	}
	// scanAuthenticationParams as a string: dropped unread.
	defs = append(defs, Definition{
		ID: "c0ffee00-0000-4000-8000-000000000099", Name: "Canary string params", ScanType: "Network", IsActive: true,
		ScannerAgent: agent,
		Extra:        map[string]any{"ScanAuthenticationParams": canary("string", "params")},
	})
	return defs, canaries
}
