package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// parse runs UnmarshalCaddyfile on input and returns the handler's JSON.
func parse(t *testing.T, input string) (string, error) {
	t.Helper()
	var h Handler
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input)); err != nil {
		return "", err
	}
	b, err := json.Marshal(&h)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), nil
}

func TestUnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  string // the handler's JSON
	}{
		{name: "bare", input: `authedge`, want: `{}`},
		{name: "empty block", input: `authedge {
		}`, want: `{}`},
		{
			name: "every directive",
			input: `authedge {
				environment_id env-1
				client_ids web ios
				jwt {
					issuer https://issuer.example
					audience api other
					jwks_url https://issuer.example/jwks.json
					jwks_file /etc/jwks.json
					public_key /keys/a.pem
					public_key /keys/b.pem
					algorithms RS256 EdDSA
					leeway 1m
					admin_scope root
					device_claim did
				}
				redis {
					address 10.0.0.1:6379
					username authedge
					password {env.REDIS_PASSWORD}
					db 2
					tls
					key_prefix ae
					timeout 1s
				}
				verification {
					required email
					webhook https://notify.example/codes {file./run/secrets/hook}
					code_ttl 5m
					token_ttl 1d
				}
				sudo {
					sensitive phone
					token_ttl 20m
					max_auth_age 5m
				}
				rate_limit {
					edits 10 30s
					lookups 100 1h
				}
			}`,
			want: `{"environment_id":"env-1","client_ids":["web","ios"],` +
				`"jwt":{"issuer":"https://issuer.example","audience":["api","other"],"jwks_url":"https://issuer.example/jwks.json",` +
				`"jwks_file":"/etc/jwks.json","public_keys":["/keys/a.pem","/keys/b.pem"],"algorithms":["RS256","EdDSA"],` +
				`"leeway":60000000000,"admin_scope":"root","device_claim":"did"},` +
				`"redis":{"addresses":["10.0.0.1:6379"],"username":"authedge","password":"{env.REDIS_PASSWORD}","db":2,"tls":true,` +
				`"key_prefix":"ae","timeout":1000000000},` +
				`"verification":{"required":["email"],"webhook":{"url":"https://notify.example/codes","secret":"{file./run/secrets/hook}"},` +
				`"code_ttl":300000000000,"token_ttl":86400000000000},` +
				`"sudo":{"sensitive":["phone"],"token_ttl":1200000000000,"max_auth_age":300000000000},` +
				`"rate_limit":{"edits":{"count":10,"window":30000000000},"lookups":{"count":100,"window":3600000000000}}}`,
		},
		{
			name: "offs and log",
			input: `authedge {
				verification {
					required off
					log
				}
				sudo {
					sensitive off
				}
			}`,
			want: `{"verification":{"required":[],"log":true},"sudo":{"sensitive":[]}}`,
		},
		{
			name:  "webhook without secret",
			input: "authedge {\n verification {\n webhook http://127.0.0.1:9000/hook\n }\n }",
			want:  `{"verification":{"webhook":{"url":"http://127.0.0.1:9000/hook"}}}`,
		},
		{
			name:  "several redis addresses",
			input: "authedge {\n redis {\n address a:7000 b:7001 c:7002\n }\n }",
			want:  `{"redis":{"addresses":["a:7000","b:7001","c:7002"]}}`,
		},
		{
			name: "redis sentinel, replica reads and wait",
			input: "authedge {\n redis {\n sentinel mymaster {\n address s1:26379 s2:26379\n password {env.S}\n }\n" +
				" username u\n tls\n read_from replicas\n wait 1 250ms\n }\n }",
			want: `{"redis":{"sentinel":{"master_name":"mymaster","addresses":["s1:26379","s2:26379"],"password":"{env.S}"},` +
				`"username":"u","tls":true,"read_from":"replicas","wait":{"replicas":1,"timeout":250000000}}}`,
		},
		{
			name:  "read_from master",
			input: "authedge {\n redis {\n read_from master\n }\n }",
			want:  `{"redis":{"read_from":"master"}}`,
		},
		{
			name:  "max_auth_age 0 is off",
			input: "authedge {\n sudo {\n max_auth_age 0s\n }\n }",
			want:  `{}`,
		},
		{
			name:  "leeway 0s is strict expiry, not unset",
			input: "authedge {\n jwt {\n leeway 0s\n }\n }",
			want:  `{"jwt":{"leeway":0}}`,
		},
		{
			name:  "days and fractions, as Caddy reads them",
			input: "authedge {\n jwt {\n leeway 1.5m\n }\n sudo {\n token_ttl 0.5d\n }\n }",
			want:  `{"jwt":{"leeway":90000000000},"sudo":{"token_ttl":43200000000000}}`,
		},
		{
			name:  "required both",
			input: "authedge {\n verification {\n required phone email\n }\n }",
			want:  `{"verification":{"required":["phone","email"]}}`,
		},
		{
			name:  "quoted values",
			input: "authedge {\n environment_id \"env 2\"\n redis {\n password `p a{s}s`\n }\n }",
			want:  `{"environment_id":"env 2","redis":{"password":"p a{s}s"}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse(t, tt.input)
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got != tt.want {
				t.Errorf("JSON:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestUnmarshalCaddyfileErrors(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  string // substring of the error
	}{
		// The directive itself.
		{name: "argument on directive", input: `authedge foo`, want: `authedge: unexpected argument "foo"`},
		{name: "unknown subdirective", input: "authedge {\n bogus 1\n}", want: `authedge: unrecognized subdirective "bogus"`},
		{name: "repeated environment_id", input: "authedge {\n environment_id a\n environment_id b\n}", want: "authedge: environment_id is given twice"},
		{name: "repeated client_ids", input: "authedge {\n client_ids a\n client_ids b\n}", want: "authedge: client_ids is given twice"},
		{name: "repeated block", input: "authedge {\n jwt {\n }\n jwt {\n }\n}", want: "authedge: jwt is given twice"},
		{name: "environment_id missing value", input: "authedge {\n environment_id\n}", want: "authedge environment_id: missing value"},
		{name: "environment_id two values", input: "authedge {\n environment_id a b\n}", want: "authedge environment_id: takes one value, got 2"},
		{name: "environment_id with block", input: "authedge {\n environment_id a {\n x\n }\n}", want: "authedge environment_id takes no block"},
		{name: "environment_id with empty block", input: "authedge {\n environment_id a { }\n}", want: "authedge environment_id takes no block"},
		{name: "environment_id with empty block on two lines", input: "authedge {\n environment_id a {\n }\n}", want: "authedge environment_id takes no block"},
		{name: "environment_id with {}", input: "authedge {\n environment_id a {}\n}", want: "authedge environment_id: takes one value, got 2"},
		{name: "tls with block", input: "authedge {\n redis {\n tls {\n }\n }\n}", want: "authedge redis tls takes no block"},
		{name: "client_ids missing value", input: "authedge {\n client_ids\n}", want: "authedge client_ids: missing value"},
		{name: "block with argument", input: "authedge {\n jwt x {\n }\n}", want: `authedge jwt: unexpected argument "x"`},
		{name: "line in error", input: "authedge {\n\n\n bogus\n}", want: "Testfile:4"},

		// jwt.
		{name: "jwt unknown", input: "authedge {\n jwt {\n secret x\n }\n}", want: `authedge jwt: unrecognized subdirective "secret"`},
		{name: "jwt repeated issuer", input: "authedge {\n jwt {\n issuer a\n issuer b\n }\n}", want: "authedge jwt: issuer is given twice"},
		{name: "jwt issuer missing", input: "authedge {\n jwt {\n issuer\n }\n}", want: "authedge jwt issuer: missing value"},
		{name: "jwt audience missing", input: "authedge {\n jwt {\n audience\n }\n}", want: "authedge jwt audience: missing value"},
		{name: "jwt repeated audience", input: "authedge {\n jwt {\n audience a\n audience b\n }\n}", want: "authedge jwt: audience is given twice"},
		{name: "jwt jwks_url two", input: "authedge {\n jwt {\n jwks_url a b\n }\n}", want: "authedge jwt jwks_url: takes one value"},
		{name: "jwt jwks_file missing", input: "authedge {\n jwt {\n jwks_file\n }\n}", want: "authedge jwt jwks_file: missing value"},
		{name: "jwt public_key two on a line", input: "authedge {\n jwt {\n public_key a b\n }\n}", want: "authedge jwt public_key: takes one value"},
		{name: "jwt public_key missing", input: "authedge {\n jwt {\n public_key\n }\n}", want: "authedge jwt public_key: missing value"},
		{name: "jwt algorithms missing", input: "authedge {\n jwt {\n algorithms\n }\n}", want: "authedge jwt algorithms: missing value"},
		{name: "jwt leeway bad", input: "authedge {\n jwt {\n leeway soon\n }\n}", want: `authedge jwt leeway: invalid duration "soon"`},
		{name: "jwt leeway bare number", input: "authedge {\n jwt {\n leeway 30\n }\n}", want: `authedge jwt leeway: invalid duration "30"`},
		{name: "jwt leeway negative", input: "authedge {\n jwt {\n leeway -1s\n }\n}", want: `authedge jwt leeway: "-1s" must not be negative`},
		{name: "jwt leeway negative days", input: "authedge {\n jwt {\n leeway -1d\n }\n}", want: `authedge jwt leeway: "-1d" must not be negative`},
		{name: "jwt admin_scope two", input: "authedge {\n jwt {\n admin_scope a b\n }\n}", want: "authedge jwt admin_scope: takes one value"},
		{name: "jwt device_claim missing", input: "authedge {\n jwt {\n device_claim\n }\n}", want: "authedge jwt device_claim: missing value"},

		// redis.
		{name: "redis unknown", input: "authedge {\n redis {\n cluster\n }\n}", want: `authedge redis: unrecognized subdirective "cluster"`},
		{name: "redis sentinel without name", input: "authedge {\n redis {\n sentinel {\n address s:1\n }\n }\n}", want: "authedge redis sentinel: missing master name"},
		{name: "redis sentinel two names", input: "authedge {\n redis {\n sentinel a b {\n }\n }\n}", want: `authedge redis sentinel: unexpected argument "b"`},
		{name: "redis sentinel unknown", input: "authedge {\n redis {\n sentinel m {\n db 1\n }\n }\n}", want: `authedge redis sentinel: unrecognized subdirective "db"`},
		{name: "redis sentinel address missing", input: "authedge {\n redis {\n sentinel m {\n address\n }\n }\n}", want: "authedge redis sentinel address: missing value"},
		{name: "redis repeated sentinel", input: "authedge {\n redis {\n sentinel m\n sentinel n\n }\n}", want: "authedge redis: sentinel is given twice"},
		{name: "redis read_from unknown", input: "authedge {\n redis {\n read_from replica\n }\n}", want: `authedge redis read_from: "replica" is neither replicas nor master`},
		{name: "redis read_from missing", input: "authedge {\n redis {\n read_from\n }\n}", want: "authedge redis read_from: missing value"},
		{name: "redis wait one value", input: "authedge {\n redis {\n wait 1\n }\n}", want: "authedge redis wait: takes the number of replicas and a timeout, got 1 values"},
		{name: "redis wait zero replicas", input: "authedge {\n redis {\n wait 0 1s\n }\n}", want: `authedge redis wait: "0" is not an integer of at least 1`},
		{name: "redis wait zero timeout", input: "authedge {\n redis {\n wait 1 0s\n }\n}", want: "authedge redis wait: "},
		{name: "redis wait with block", input: "authedge {\n redis {\n wait 1 1s {\n }\n }\n}", want: "authedge redis wait takes no block"},
		{name: "redis repeated address", input: "authedge {\n redis {\n address a:1\n address b:2\n }\n}", want: "authedge redis: address is given twice"},
		{name: "redis address missing", input: "authedge {\n redis {\n address\n }\n}", want: "authedge redis address: missing value"},
		{name: "redis username missing", input: "authedge {\n redis {\n username\n }\n}", want: "authedge redis username: missing value"},
		{name: "redis password missing", input: "authedge {\n redis {\n password\n }\n}", want: "authedge redis password: missing value"},
		{name: "redis db bad", input: "authedge {\n redis {\n db one\n }\n}", want: `authedge redis db: "one" is not an integer of at least 0`},
		{name: "redis db negative", input: "authedge {\n redis {\n db -1\n }\n}", want: `authedge redis db: "-1" is not an integer`},
		{name: "redis db missing", input: "authedge {\n redis {\n db\n }\n}", want: "authedge redis db: missing value"},
		{name: "redis tls with value", input: "authedge {\n redis {\n tls on\n }\n}", want: `authedge redis tls takes no value, got "on"`},
		{name: "redis repeated tls", input: "authedge {\n redis {\n tls\n tls\n }\n}", want: "authedge redis: tls is given twice"},
		{name: "redis key_prefix missing", input: "authedge {\n redis {\n key_prefix\n }\n}", want: "authedge redis key_prefix: missing value"},
		{name: "redis timeout bad", input: "authedge {\n redis {\n timeout 5\n }\n}", want: `authedge redis timeout: invalid duration "5"`},
		{name: "redis timeout zero", input: "authedge {\n redis {\n timeout 0s\n }\n}", want: `authedge redis timeout: "0s" must be positive`},
		{name: "redis timeout negative", input: "authedge {\n redis {\n timeout -1ms\n }\n}", want: `authedge redis timeout: "-1ms" must be positive`},

		// verification.
		{name: "verification unknown", input: "authedge {\n verification {\n sms x\n }\n}", want: `authedge verification: unrecognized subdirective "sms"`},
		{name: "verification repeated webhook", input: "authedge {\n verification {\n webhook http://a\n webhook http://b\n }\n}", want: "authedge verification: webhook is given twice"},
		{name: "required missing", input: "authedge {\n verification {\n required\n }\n}", want: "authedge verification required: missing value"},
		{name: "required unknown", input: "authedge {\n verification {\n required sms\n }\n}", want: `authedge verification required: unknown channel "sms"`},
		{name: "required off with more", input: "authedge {\n verification {\n required off phone\n }\n}", want: "authedge verification required: off stands alone"},
		{name: "required twice on a line", input: "authedge {\n verification {\n required email email\n }\n}", want: "authedge verification required: email is listed twice"},
		{name: "webhook missing", input: "authedge {\n verification {\n webhook\n }\n}", want: "authedge verification webhook: missing URL"},
		{name: "webhook three values", input: "authedge {\n verification {\n webhook http://a s3cret extra\n }\n}", want: "authedge verification webhook: takes <url> [<secret>], got 3 values"},
		{name: "log with value", input: "authedge {\n verification {\n log yes\n }\n}", want: `authedge verification log takes no value`},
		{name: "code_ttl bad", input: "authedge {\n verification {\n code_ttl forever\n }\n}", want: `authedge verification code_ttl: invalid duration "forever"`},
		{name: "code_ttl zero", input: "authedge {\n verification {\n code_ttl 0m\n }\n}", want: `authedge verification code_ttl: "0m" must be positive`},
		{name: "token_ttl zero", input: "authedge {\n verification {\n token_ttl 0\n }\n}", want: `authedge verification token_ttl: "0" must be positive`},

		// sudo.
		{name: "sudo unknown", input: "authedge {\n sudo {\n password x\n }\n}", want: `authedge sudo: unrecognized subdirective "password"`},
		{name: "sudo repeated sensitive", input: "authedge {\n sudo {\n sensitive phone\n sensitive email\n }\n}", want: "authedge sudo: sensitive is given twice"},
		{name: "sensitive missing", input: "authedge {\n sudo {\n sensitive\n }\n}", want: "authedge sudo sensitive: missing value"},
		{name: "sensitive unknown", input: "authedge {\n sudo {\n sensitive username\n }\n}", want: `authedge sudo sensitive: unknown channel "username"`},
		{name: "sensitive off with more", input: "authedge {\n sudo {\n sensitive email off\n }\n}", want: "authedge sudo sensitive: off stands alone"},
		{name: "sudo token_ttl bad", input: "authedge {\n sudo {\n token_ttl 1x\n }\n}", want: `authedge sudo token_ttl: invalid duration "1x"`},
		{name: "sudo token_ttl zero", input: "authedge {\n sudo {\n token_ttl 0s\n }\n}", want: `authedge sudo token_ttl: "0s" must be positive`},
		{name: "max_auth_age negative", input: "authedge {\n sudo {\n max_auth_age -5m\n }\n}", want: `authedge sudo max_auth_age: "-5m" must not be negative`},

		// rate_limit.
		{name: "rate_limit unknown", input: "authedge {\n rate_limit {\n sends 1 1m\n }\n}", want: `authedge rate_limit: unrecognized subdirective "sends"`},
		{name: "rate_limit repeated edits", input: "authedge {\n rate_limit {\n edits 1 1m\n edits 2 1m\n }\n}", want: "authedge rate_limit: edits is given twice"},
		{name: "edits missing both", input: "authedge {\n rate_limit {\n edits\n }\n}", want: "authedge rate_limit edits: want <count> <window>"},
		{name: "edits missing window", input: "authedge {\n rate_limit {\n edits 30\n }\n}", want: "authedge rate_limit edits: want <count> <window>"},
		{name: "edits too many", input: "authedge {\n rate_limit {\n edits 30 1m 2\n }\n}", want: "authedge rate_limit edits: want <count> <window>"},
		{name: "edits bad count", input: "authedge {\n rate_limit {\n edits many 1m\n }\n}", want: `authedge rate_limit edits: count "many" is not a positive integer`},
		{name: "edits zero count", input: "authedge {\n rate_limit {\n edits 0 1m\n }\n}", want: `count "0" is not a positive integer`},
		{name: "edits bad window", input: "authedge {\n rate_limit {\n edits 30 1\n }\n}", want: `authedge rate_limit edits: window: invalid duration "1"`},
		{name: "edits zero window", input: "authedge {\n rate_limit {\n edits 30 0s\n }\n}", want: `authedge rate_limit edits: window: "0s" must be positive`},
		{name: "edits with block", input: "authedge {\n rate_limit {\n edits 30 1m {\n }\n }\n}", want: "authedge rate_limit edits takes no block"},
		{name: "rate_limit repeated lookups", input: "authedge {\n rate_limit {\n lookups 1 1m\n lookups 2 1m\n }\n}", want: "authedge rate_limit: lookups is given twice"},
		{name: "lookups missing window", input: "authedge {\n rate_limit {\n lookups 30\n }\n}", want: "authedge rate_limit lookups: want <count> <window>"},
		{name: "lookups zero count", input: "authedge {\n rate_limit {\n lookups 0 1m\n }\n}", want: `authedge rate_limit lookups: count "0" is not a positive integer`},
		{name: "lookups zero window", input: "authedge {\n rate_limit {\n lookups 30 0s\n }\n}", want: `authedge rate_limit lookups: window: "0s" must be positive`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse(t, tt.input)
			if err == nil {
				t.Fatalf("no error; parsed to %s", got)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q\nlacks %q", err, tt.want)
			}
		})
	}
}

// A webhook secret or Redis password must not be quoted back in errors.
func TestUnmarshalCaddyfileErrorsHideSecrets(t *testing.T) {
	for _, input := range []string{
		"authedge {\n verification {\n webhook http://a s3cret extra\n }\n}",
		"authedge {\n redis {\n password s3cret extra\n }\n}",
		"authedge {\n redis {\n password s3cret {\n }\n }\n}",
		"authedge {\n redis {\n sentinel m {\n password s3cret extra\n }\n }\n}",
	} {
		_, err := parse(t, input)
		if err == nil {
			t.Fatalf("no error for %q", input)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("error quotes the secret: %v", err)
		}
	}
}

// FuzzUnmarshalCaddyfile: any token stream is parsed or refused without a
// panic, and whatever parses marshals to JSON that reads back the same.
func FuzzUnmarshalCaddyfile(f *testing.F) {
	f.Add("authedge {\n environment_id e\n jwt {\n issuer i\n public_key a\n public_key b\n leeway 1d\n }\n}")
	f.Add("authedge {\n verification {\n required off\n webhook http://a b\n }\n sudo {\n sensitive phone\n }\n}")
	f.Add("authedge {\n redis {\n address a:1 b:2\n db 3\n tls\n }\n rate_limit {\n edits 1 1s\n }\n}")
	f.Add("authedge {\n environment_id a {}\n}")
	f.Add("authedge {\n redis {\n sentinel m {\n address s:1\n password p\n }\n read_from replicas\n wait 1 1s\n }\n}")
	f.Add("authedge {\n jwt {\n}")
	f.Fuzz(func(t *testing.T, input string) {
		// The lexer's errors are Caddy's; the parser sees what lexes.
		tokens, err := caddyfile.Tokenize([]byte(input), "Testfile")
		if err != nil {
			return
		}
		var h Handler
		if err := h.UnmarshalCaddyfile(caddyfile.NewDispenser(tokens)); err != nil {
			return
		}
		b, err := json.Marshal(&h)
		if err != nil {
			t.Fatal(err)
		}
		var back Handler
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%s does not read back: %v", b, err)
		}
		b2, _ := json.Marshal(&back)
		if string(b) != string(b2) {
			t.Fatalf("round trip changed the config:\n%s\n%s", b, b2)
		}
	})
}
