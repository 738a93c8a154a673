package handler

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/authedge/caddy-authedge/store"
)

// A user's security history is written by the script of each change it
// records (store's Origin says where the change came from) and read here:
// GET /auth/v1/user/security/history, the caller's own changes, newest
// first, paged (docs/api.md).

// origin is where the request's change comes from, as its history entry
// and change event record it.
func (a *API) origin(c *call) *store.Origin {
	c.origin = store.Origin{
		ClientID:  c.clientID,
		DeviceID:  c.deviceID,
		IP:        a.deps.ClientIP(c.r),
		UserAgent: c.r.UserAgent(),
	}
	return &c.origin
}

// History page sizes.
const (
	defaultHistoryLimit = 20
	maxHistoryLimit     = 100
)

// The actions a history filter may name. Only changes are kept here:
// sign-ins happen at the identity provider.
const (
	actionModify = "USER_MODIFY"
	actionLogin  = "USER_LOGIN"
)

// serveHistory answers the SDK's getUserBehaviorLog: type MODIFY sends
// ne_query[action]=USER_LOGIN, type LOGIN query[action]=USER_LOGIN, and
// limit=undefined (or limit=null) when its caller gives no limit.
func (a *API) serveHistory(w http.ResponseWriter, c *call) *apiError {
	q, err := url.ParseQuery(c.r.URL.RawQuery)
	if err != nil {
		return invalidArgument("the query string is malformed")
	}
	if err := namesNoUser(q); err != nil {
		return err
	}
	for _, name := range []string{"limit", "page_token"} {
		if len(q[name]) > 1 {
			return invalidArgument(name + ": given more than once")
		}
	}
	limit := defaultHistoryLimit
	if v := q.Get("limit"); v != "" && !unsetBySDK(v) {
		n, ok := parseSmallUint(v)
		if !ok || n < 1 || n > maxHistoryLimit {
			return invalidArgument("limit: a whole number from 1 to 100")
		}
		limit = n
	}
	modify := true
	for _, f := range []struct {
		name   string
		negate bool
	}{{"query[action]", false}, {"ne_query[action]", true}} {
		values, given := q[f.name]
		if !given {
			continue
		}
		if len(values) != 1 || (values[0] != actionModify && values[0] != actionLogin) {
			return invalidArgument(f.name + ": USER_MODIFY or USER_LOGIN, once")
		}
		if (values[0] == actionModify) == f.negate {
			modify = false
		}
	}
	user := c.claims.Subject
	var before int64
	if t := q.Get("page_token"); t != "" {
		if before, err = decodePageToken(user, t); err != nil {
			return invalidArgument("page_token: not a page token of this history")
		}
	}
	var (
		entries []store.HistoryEntry
		more    bool
	)
	if modify {
		var err error
		entries, more, err = a.deps.Store.History(c.r.Context(), user, before, limit)
		if err != nil {
			return a.storeError(c, err)
		}
	}
	b := make([]byte, 0, 256+len(entries)*256)
	b = append(b, `{"data":[`...)
	for i := range entries {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendHistoryEntry(b, &entries[i])
	}
	b = append(b, ']')
	if more {
		b = append(b, `,"next_page_token":`...)
		b = appendJSONString(b, encodePageToken(user, entries[len(entries)-1].ID))
	}
	writeJSON(w, http.StatusOK, append(b, '}'))
	return nil
}

// appendHistoryEntry renders one entry as the SDK's GetUserBehaviorLogRes
// (plus fields, the names of what changed): every member present, "" for
// a value the change did not have (no x-device-id). An admin's change
// shows "" for the ip, user_agent and device_id: where an admin works
// from (an office address, a console's user agent, a device ID that
// tokens are bound to) is not for every user they edit to read. The app
// has them in the change event.
func appendHistoryEntry(b []byte, e *store.HistoryEntry) []byte {
	ip, userAgent, deviceID := e.IP, e.UserAgent, e.DeviceID
	if e.ByAdmin {
		ip, userAgent, deviceID = "", "", ""
	}
	b = append(b, `{"id":"`...)
	b = strconv.AppendInt(b, e.ID, 10)
	b = append(b, `","action":"`+actionModify+`","fields":[`...)
	for i, f := range e.Fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, f)
	}
	b = append(b, `],"ip":`...)
	b = appendJSONString(b, ip)
	b = append(b, `,"user_agent":`...)
	b = appendJSONString(b, userAgent)
	b = append(b, `,"client_id":`...)
	b = appendJSONString(b, e.ClientID)
	b = append(b, `,"device_id":`...)
	b = appendJSONString(b, deviceID)
	b = appendTime(b, "created_at", e.CreatedAt)
	if e.ByAdmin {
		return append(b, `,"meta":{"from":"admin"}}`...)
	}
	return append(b, `,"meta":{"from":"self"}}`...)
}

// parseSmallUint reads 1 to 3 decimal digits, nothing else (no sign, no
// space), as limit takes them.
func parseSmallUint(s string) (int, bool) {
	if len(s) == 0 || len(s) > 3 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// A page token says where the next page starts: before the entry with the
// ID it holds. It is opaque to clients and decoded strictly: one version
// byte, the ID (8 bytes, big-endian) and a check of 8 bytes, SHA-256 over
// the user and the rest, base64url without padding. The check binds a
// token to its user's history and makes a changed token fail (400) rather
// than start another page; it is not a secret, and needs none: a token
// someone forged would only start their own history at another place.
const (
	pageTokenVersion = 1
	pageTokenBytes   = 1 + 8 + 8
	pageTokenLen     = (pageTokenBytes*8 + 5) / 6
)

var errBadPageToken = errors.New("bad page token")

func pageTokenCheck(user string, head []byte) []byte {
	h := sha256.New()
	h.Write([]byte("authedge history page\x00"))
	h.Write([]byte(user))
	h.Write([]byte{0})
	h.Write(head)
	return h.Sum(nil)[:8]
}

func encodePageToken(user string, before int64) string {
	var raw [pageTokenBytes]byte
	raw[0] = pageTokenVersion
	binary.BigEndian.PutUint64(raw[1:9], uint64(before))
	copy(raw[9:], pageTokenCheck(user, raw[:9]))
	return base64.RawURLEncoding.EncodeToString(raw[:])
}

// decodePageToken returns the ID a page token of user's history starts
// before, or errBadPageToken.
func decodePageToken(user, token string) (int64, error) {
	if len(token) != pageTokenLen {
		return 0, errBadPageToken
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(raw) != pageTokenBytes || raw[0] != pageTokenVersion {
		return 0, errBadPageToken
	}
	check := pageTokenCheck(user, raw[:9])
	for i := range check {
		if check[i] != raw[9+i] {
			return 0, errBadPageToken
		}
	}
	before := binary.BigEndian.Uint64(raw[1:9])
	if before == 0 || before > 1<<53 {
		return 0, errBadPageToken
	}
	return int64(before), nil
}
