package store

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzRecordRoundTrip: where a change came from (the client's
// User-Agent, x-device-id, client_id and IP) and what it changed pass
// from Go through edit.lua into the history string and the event stream;
// History and the event's JSON read them back as they were given (the
// User-Agent as cleanUserAgent keeps it), or the edit is refused and
// nothing is written.
func FuzzRecordRoundTrip(f *testing.F) {
	fx := newFixture(f)
	f.Add("Mozilla/5.0 (test)", "203.0.113.7", testEnv, "dev-1", "Alice", false)
	f.Add("a\x1fb\nc\xffd"+strings.Repeat("é", 200), "2001:db8::1", "c", "", "Bob \"q\" \\ </script>", true)
	f.Add("", "", "", "", "😀\u2028", false)
	f.Add("ua", "1.2.3.4\x1e", "c", "d", "x", false)
	f.Fuzz(func(t *testing.T, ua, ip, client, device, nickname string, admin bool) {
		if !utf8.ValidString(nickname) || nickname == "" || strings.IndexFunc(nickname, unicode.IsControl) >= 0 {
			return // the handler's rules refuse these before the store
		}
		if !utf8.ValidString(ip) || !utf8.ValidString(client) || !utf8.ValidString(device) {
			return // an address Caddy parsed, a configured client ID and a checked device ID are UTF-8
		}
		ctx := ctxT(t)
		if err := fx.raw.FlushDB(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		actor := "u1"
		if admin {
			actor = "admin"
		}
		o := &Origin{ClientID: client, DeviceID: device, IP: ip, UserAgent: ua}
		_, err := fx.Edit(ctx, Edit{Actor: actor, Target: "u1", CreateIfMissing: true, Changes: Changes{Nickname: &nickname},
			SudoSatisfied: true, Origin: o, Events: eventsOn})
		if err != nil {
			if n := fx.raw.DBSize(ctx).Val(); n != 0 {
				t.Fatalf("a refused edit (%v) left %d keys", err, n)
			}
			if !strings.ContainsAny(ip+client+device, profileSeparator+historySeparator) {
				t.Fatalf("edit refused: %v", err)
			}
			return
		}
		h, _, err := fx.History(ctx, "u1", 0, 10)
		if err != nil || len(h) != 1 {
			t.Fatalf("history %+v, %v", h, err)
		}
		e := h[0]
		if e.IP != ip || e.ClientID != client || e.DeviceID != device || e.UserAgent != cleanUserAgent(ua) ||
			e.ByAdmin != admin || len(e.Fields) != 1 || e.Fields[0] != "nickname" {
			t.Fatalf("history reads %+v", e)
		}
		entries, err := fx.raw.XRange(ctx, fx.keys.events(), "-", "+").Result()
		if err != nil || len(entries) != 1 {
			t.Fatalf("events %+v, %v", entries, err)
		}
		stored, _ := entries[0].Values["event"].(string)
		var ev testEvent
		if err := json.Unmarshal([]byte(stored), &ev); err != nil || !json.Valid([]byte(stored)) {
			t.Fatalf("event %q: %v", stored, err)
		}
		wantDevice := (*string)(nil)
		if device != "" {
			wantDevice = &device
		}
		nick := ev.Changes["nickname"]
		if ev.UserID != "u1" || ev.Actor != actor || ev.ClientID != client || ev.IP != ip ||
			(ev.DeviceID == nil) != (wantDevice == nil) || (ev.DeviceID != nil && *ev.DeviceID != device) ||
			len(ev.Changes) != 1 || nick["old"] != nil || nick["new"] == nil || *nick["new"] != nickname {
			t.Fatalf("event %s", stored)
		}
	})
}
