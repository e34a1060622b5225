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
			// dropped too, at any depth, and undocumented objects whole.
			Extra: canaryMembers(fmt.Sprintf("def%d", i), &canaries, true),
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

// credentialNames are member names that may hold a credential, one for
// each rule of internal/credential, in camelCase; CanaryExtra sends each
// also in PascalCase and in upper snake case.
var credentialNames = []string{"password", "adminPassword", "passwd", "passphrase", "adminPwd", "clientSecret",
	"accessToken", "apiKey", "privateKey", "sshKey", "credentials", "communityString", "clientCertificate", "connectionString"}

// CanaryAgents returns agents with, in their extra fields, a distinct
// canary under every credential-like name, in several casings, at depths
// 1 to 3 (inside objects and arrays), beside harmless fields that must be
// kept. It also returns every canary: none may reach a database, a log,
// an error or fetch's output.
func CanaryAgents(agents []Agent) (out []Agent, canaries []string) {
	for i, a := range agents {
		a.Extra = canaryMembers(fmt.Sprintf("agent%d", i), &canaries, false)
		out = append(out, a)
	}
	return out, canaries
}

// canaryMembers are the extra fields of one canary record. With
// definition set they also hold the objects a definition sends beyond its
// fields: advancedActiveConfiguration (documented, so kept, less its
// credentials) and an unknown scanAuthenticationParamsV2 (removed whole).
func canaryMembers(who string, canaries *[]string, definition bool) map[string]any {
	canary := func(depth int, name string) string {
		c := fmt.Sprintf("CANARY-%s-d%d-%s-%d", who, depth, name, len(*canaries))
		*canaries = append(*canaries, c)
		return c
	}
	fill := func(depth int, into map[string]any) {
		for _, name := range credentialNames {
			for _, spelled := range []string{name, strings.ToUpper(name[:1]) + name[1:], upperSnake(name)} {
				into[spelled] = canary(depth, spelled)
			}
		}
	}
	inner := map[string]any{"kept": "harmless-3"}
	fill(3, inner)
	nested := map[string]any{"siteId": "harmless-2", "inner": inner, "hosts": []any{map[string]any{"address": "10.0.0.1", "password": canary(3, "hosts-password")}}}
	fill(2, nested)
	extra := map[string]any{"settings": nested, "monkeyCount": 3, "keyboardLayout": "de-CH"}
	fill(1, extra)
	if definition {
		delete(extra, "settings") // an undocumented object: nothing of it is kept anyway
		extra["advancedActiveConfiguration"] = nested
		extra["scanAuthenticationParamsV2"] = map[string]any{"password": canary(2, "v2-password"), "note": canary(2, "v2-note")}
		extra["vendorObject"] = map[string]any{"note": canary(2, "undocumented-object")}
		extra["isTroubleshootMode"] = false
	}
	return extra
}

// upperSnake spells a camelCase name in upper snake case: apiKey is API_KEY.
func upperSnake(name string) string {
	var b strings.Builder
	for i, r := range name {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return strings.ToUpper(b.String())
}
