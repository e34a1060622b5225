package credential

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func TestName(t *testing.T) {
	t.Parallel()
	credentials := []string{
		"password", "Password", "PASSWORD", "adminPassword", "AdminPassword", "admin_password", "ADMIN_PASSWORD",
		"passwd", "passphrase", "SshPassphrase", "pass", "adminPass", "pwd", "adminPwd", "ADMIN_PWD",
		"secret", "clientSecret", "client_secret", "ClientSecret", "keyVaultSecretName",
		"token", "accessToken", "access_token", "RefreshToken", "tokens",
		"key", "Key", "keys", "apiKey", "ApiKey", "APIKey", "api_key", "api-key", "apikey", "APIKEY",
		"privateKey", "PrivateKey", "private_key", "PRIVATEKEY", "SSHKey", "sshKey", "keyVaultUri", "KeyVaultUrl", "key2",
		"credential", "credentials", "Credentials", "storedCredential",
		"community", "communityString", "CommunityString", "community_string",
		"certificate", "clientCertificate", "CERTIFICATE_PEM",
		"connectionString", "connection_string",
		"scanAuthenticationParamsV2", "authParams", "ScanAuthenticationParams",
	}
	for _, name := range credentials {
		if !Name(name) {
			t.Errorf("Name(%q) = false, want true", name)
		}
	}
	// Every documented field of an agent, a definition (its metadata
	// included), an embedded scanner agent, a latest scan, a session and a
	// target, in the spellings of the vendor's pages and of the metadata,
	// and names that hold the letters of a word without the word.
	documented := []string{
		"id", "machineId", "lastSeen", "computerDnsName", "AssignedApplicationId", "assignedApplicationId",
		"ScannerSoftwareVersion", "LastCommandExecutionTimestamp", "mdeClientVersion",
		"scanType", "scanName", "isActive", "target", "orgId", "intervalInHours", "createdBy", "targetType",
		"scannerAgent", "machineName", "latestScan", "status", "failureReason", "executionDateTime",
		"isTroubleshootMode", "advancedActiveConfiguration", "addresses", "siteId", "maxConcurrentScans", "zone",
		"@odata.type", "@odata.context", "$type", "type", "username", "domain", "isGmsaUser", "authProtocol", "privProtocol",
		"ScanDefinitionIds", "scanDefinitionId", "SessionIds", "sessionId", "ScannerId", "scannerId",
		"NumberOfSuccessfullyScannedTargets", "NumberOfTargets", "ScanStatus", "LastScanned", "generalErrorMessage",
		"ListScannedTargets", "scannedTargets", "Ip", "Hostname", "ScannedDeviceDescription", "ErrorMessage", "ScanDuration",
		"monkey", "keyboardLayout", "turkeyTrot", "hockeyTeam", "passport", "bypassMode", "compassHeading", "Monkeys",
	}
	for _, name := range documented {
		if Name(name) {
			t.Errorf("Name(%q) = true, want false", name)
		}
	}
}

func TestStripAtAnyDepth(t *testing.T) {
	t.Parallel()
	in := `{"site":"a","apiKey":"C1","nested":{"Password":"C2","keep":[1,2.50,{"privateKey":"C3","x":null,"deeper":{"community":"C4","ok":true}}]},` +
		`"list":[{"token":"C5"},"plain"],"n":1e3,"s":"\u00e9<>"}`
	got, removed := Strip(json.RawMessage(in), "extra")
	want := `{"site":"a","nested":{"keep":[1,2.50,{"x":null,"deeper":{"ok":true}}]},"list":[{},"plain"],"n":1e3,"s":"é\u003c\u003e"}`
	if string(got) != want {
		t.Errorf("Strip:\n got %s\nwant %s", got, want)
	}
	wantRemoved := []string{"extra.apiKey", "extra.nested.Password", "extra.nested.keep[].privateKey", "extra.nested.keep[].deeper.community", "extra.list[].token"}
	if !slices.Equal(removed, wantRemoved) {
		t.Errorf("removed %q, want %q", removed, wantRemoved)
	}
	if !json.Valid(got) {
		t.Errorf("%s is not valid JSON", got)
	}
	// Nothing to remove: the value as sent, byte for byte.
	for _, keep := range []string{`{"monkey": {"keyboard": 1}}`, `"a password"`, `["token"]`, `{"a":{"b":"secret"}}`, `7`} {
		got, removed := Strip(json.RawMessage(keep), "x")
		if string(got) != keep || removed != nil {
			t.Errorf("Strip(%s) = %s, %q; want it unchanged", keep, got, removed)
		}
	}
	// A name spelled with escapes is read as what it spells.
	got, removed = Strip(json.RawMessage(`{"pass\u0077ord":"C6"}`), "x")
	if strings.Contains(string(got), "C6") || len(removed) != 1 {
		t.Errorf("an escaped name: %s, %q", got, removed)
	}
}

func TestMembers(t *testing.T) {
	t.Parallel()
	extra := map[string]json.RawMessage{
		"adminPassword":               json.RawMessage(`"C1"`),
		"advancedActiveConfiguration": json.RawMessage(`{"siteId":"s","password":"C2"}`),
		"vendorSettings":              json.RawMessage(`{"harmless":1}`),
		"isTroubleshootMode":          json.RawMessage(`true`),
		"tags":                        json.RawMessage(`[{"apiKey":"C3","name":"t"}]`),
	}
	removed := Members(extra, func(name string) bool { return name != "advancedActiveConfiguration" })
	want := []string{"adminPassword", "advancedActiveConfiguration.password", "tags[].apiKey", "vendorSettings"}
	if !slices.Equal(removed, want) {
		t.Errorf("removed %q, want %q", removed, want)
	}
	got, _ := json.Marshal(extra)
	if string(got) != `{"advancedActiveConfiguration":{"siteId":"s"},"isTroubleshootMode":true,"tags":[{"name":"t"}]}` {
		t.Errorf("kept %s", got)
	}
}
