// Package extract reads the authenticated scan agents of a Microsoft
// Defender tenant from GET /api/DeviceAuthenticatedScanAgents and streams
// them as normalized scanagent.Records; and, from the sibling endpoints of
// the same API family, the scan definitions (ListDefinitions) and the scan
// history (SessionsByDefinition, SessionsByID). It owns everything about
// the source: Entra ID client credentials (secret or certificate), hosts of
// the sovereign clouds, paging, Defender's rate limits, retries, and the
// API's inconsistent JSON.
//
// Every endpoint is read by one paged-collection reader (readCollection):
// each resource adds its first request and a decoder for its elements,
// and shares the tenant's one rate budget, the retries, timeouts, body
// limits and error types.
//
// # Normalization
//
// The API spells the same field in several casings, and has changed them
// between versions. A key names a Record field when it matches that field's
// name compared lower-cased with underscores removed: "machineId",
// "MachineId" and "machine_id" are all MachineID. The timestamp of the last
// command is LastCommandExecutionTimestamp in any casing. Keys that name no
// field go to Record.Extra under the key exactly as sent, with their JSON
// value, less what may hold a credential (see Credentials below).
//
// When one object carries a field twice (two casings, or the same key
// repeated), the last one in the object wins. If the values differ a
// warning is logged; if they are equal nothing is said.
//
// Strings: JSON null and "" are both "not set" (the empty string, stored
// as NULL). A number where a string is expected is kept as the digits sent
// (a version sent as 7.1 becomes "7.1"); a boolean, object or array rejects
// the agent. The id alone must be a string: an agent whose id is a number
// (or anything but a string) has no usable id and is rejected as one
// without an id. NUL characters are dropped and invalid UTF-8 is replaced
// by U+FFFD, in Extra's keys and values too, since PostgreSQL stores
// neither. The fields of an agent, a scan definition or a scan session
// (and its targets) repaired that way are counted in
// ListStats.FieldsRepaired and named, with the record's id, in one warning
// per listing (per reading of the history, for its two requests); the
// values are never logged.
//
// Timestamps may carry 0 to 7 (up to 9) fractional digits, 'T' or a space
// between date and time, and "Z", a numeric offset or no zone (meaning
// UTC). They are converted to UTC and truncated to microseconds, PostgreSQL's
// precision. .NET's "never", 0001-01-01T00:00:00Z, is the zero time, as are
// null and "". A malformed timestamp rejects the agent, with a reason naming
// the field and the value: keeping the agent with the field empty would
// record that it was never seen, which is false.
//
// A rejected agent (no id, a malformed field) is logged and counted in
// ListStats.Rejected, and the listing goes on. An id seen twice in one
// listing is logged and counted in ListStats.Duplicates; both records are
// handed on and the last one counts.
//
// The vendor's published example response ends its array with a trailing
// comma; such bodies are accepted.
//
// # Decoding
//
// Bodies are read with one JSON decoder, jsontext of
// github.com/go-json-experiment/json (encoding/json/v2's syntactic layer):
// a body is validated whole, standardized by hujson when it has trailing
// commas or comments, then walked token by token, each agent's members
// handed on as slices of the body. Repeated member names and invalid UTF-8
// are allowed, as encoding/json allows them. It replaced a hand-written
// scanner run after encoding/json's Valid, and is faster: BenchmarkDecode,
// one page of 10,000 agents, took 9.8 ms instead of 23.6 ms (23 ms instead
// of 55 ms with a trailing comma); BenchmarkDecodePage, which normalizes
// them too, 29 ms instead of 34 ms (48 instead of 83). Medians of eight
// interleaved runs of each build on a shared two-core machine.
//
// # Scan definitions and history
//
// Their fields are matched the same way, case-insensitively and without
// underscores, in both spellings in use: the plural PascalCase of the
// vendor's pages (ScanDefinitionIds, SessionIds, ListScannedTargets) and
// the singular camelCase of the service's metadata (scanDefinitionId,
// sessionId, scannedTargets). Unknown fields go to Extra. A definition's
// id and a session's id, like an agent's, must be strings: a session
// whose id is a number is rejected as one without a usable id.
//
// Of a definition's scanAuthenticationParams only the variant
// (@odata.type) and the authentication type are kept; every other field
// (passwords, community strings, private keys, key vault names) is skipped
// unread, as are credential fields sent anywhere else in a definition. No
// error quotes any byte of a definitions body, and no log line or reason
// quotes a credential field.
//
// # Credentials
//
// Before a record is handed on (and so before anything stores, logs or
// prints it), every member of its Extra, at any depth and inside arrays,
// whose name says it may hold a credential is removed: password, passwd,
// passphrase, secret, token, credential, community, certificate or
// connectionString anywhere in the name, or key, keys, pwd or pass as a
// word of it (apiKey, private_key, SSHKey), in any case
// (internal/credential). A scan definition also keeps no object-valued
// member that is not a documented field: advancedActiveConfiguration,
// documented by the service's metadata, stays, less its credential-like
// members; anything else, such as a scanAuthenticationParamsV2, goes
// whole. The same name rule applies to sessions and targets. Each
// listing counts what it removed (ListStats.CredentialsRemoved and
// CredentialNames) and logs the count and the names, never a value.
//
// The history by definition pages with $top and $skip until a short page,
// bounded by Config.PageCap; a page identical to the one before it
// (an API ignoring $skip) fails with ErrPageRepeated. Ids go in batches
// of Config.HistoryBatchSize.
//
// # Failures
//
// List fails, rather than return a partial listing as if complete, on:
// a nextLink already followed (ErrNextLinkLoop), more pages than
// Config.PageCap (ErrPageCap), a body that is not the expected JSON
// (*BodyError, ErrBadBody), a 404 (ErrNotFound: an empty tenant would make
// the loader delete every agent), Entra refusing the credentials
// (*AuthError), a redirect from the token endpoint or the API
// (ErrRedirect: none is followed, so the client secret, a token or a
// history request's body never goes where a redirect points), and any
// other 4xx (*APIError). 429s wait for Retry-After;
// 5xx responses, timeouts and broken connections are retried with
// exponential backoff, within RetryPolicy's bounds. Every API request,
// retries included, first waits for the rate budget (RateBudget).
//
// No error and no log line ever carries the client secret, the client
// assertion or a bearer token: every token Entra issued to the client
// (kept until a day after it expired) is redacted by value, whatever its
// shape, besides anything shaped like a JWT. Whatever they quote of a response (a body's
// start, the literal the JSON parser could not read, a rejected value, a
// nextLink) goes through safetext: secrets and anything shaped like a
// token redacted, control characters and invalid UTF-8 escaped, bounded
// with a visible cut marker. A 2 MB bad literal gives an error of well
// under a kilobyte.
package extract
