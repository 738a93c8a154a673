package caddymodule

import (
	"strings"
	"testing"
)

func TestUnmarshalCaddyfileEvents(t *testing.T) {
	tests := []struct {
		name, input, want string
	}{
		{name: "empty block: events on, defaults", input: "authedge {\n events {\n }\n}", want: `{"events":{}}`},
		{name: "everything", input: "authedge {\n events {\n stream_max_len 5000\n webhook https://app.example/events {env.EVENTS_SECRET}\n retry_for 1h\n }\n}",
			want: `{"events":{"stream_max_len":5000,"webhook":{"url":"https://app.example/events","secret":"{env.EVENTS_SECRET}"},"retry_for":3600000000000}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse(t, tt.input)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestUnmarshalCaddyfileEventsErrors(t *testing.T) {
	tests := []struct{ name, input, want string }{
		{"argument", "authedge {\n events on {\n }\n}", `authedge events: unexpected argument "on"`},
		{"repeated block", "authedge {\n events {\n }\n events {\n }\n}", "authedge: events is given twice"},
		{"unknown", "authedge {\n events {\n stream x\n }\n}", `authedge events: unrecognized subdirective "stream"`},
		{"repeated webhook", "authedge {\n events {\n webhook http://a s\n webhook http://b s\n }\n}", "authedge events: webhook is given twice"},
		{"stream_max_len zero", "authedge {\n events {\n stream_max_len 0\n }\n}", `authedge events stream_max_len: "0" is not an integer of at least 1`},
		{"stream_max_len word", "authedge {\n events {\n stream_max_len many\n }\n}", `authedge events stream_max_len: "many" is not an integer`},
		{"stream_max_len missing", "authedge {\n events {\n stream_max_len\n }\n}", "authedge events stream_max_len: missing value"},
		{"webhook without secret", "authedge {\n events {\n webhook http://a\n }\n}", "authedge events webhook: want <url> <secret>, got 1 values"},
		{"webhook three values", "authedge {\n events {\n webhook http://a s x\n }\n}", "authedge events webhook: want <url> <secret>, got 3 values"},
		{"webhook with block", "authedge {\n events {\n webhook http://a s {\n }\n }\n}", "authedge events webhook takes no block"},
		{"retry_for zero", "authedge {\n events {\n retry_for 0s\n }\n}", `authedge events retry_for: "0s" must be positive`},
		{"retry_for bad", "authedge {\n events {\n retry_for soon\n }\n}", `authedge events retry_for: invalid duration "soon"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(t, tt.input)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
	// The secret is never quoted back.
	_, err := parse(t, "authedge {\n events {\n webhook http://a s3cret extra\n }\n}")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %v: missing, or quotes the secret", err)
	}
}
