package handler

import (
	"strings"
	"testing"
)

// FuzzDecodeRevocationBodies: any body is refused in the catalog's shape or
// decodes as encoding/json reads it, for revoke and for signout.
func FuzzDecodeRevocationBodies(f *testing.F) {
	for _, s := range []string{
		`{"token":"a.b.c"}`, `{"token":""}`, `{"token":null}`, `{"token":5}`, `{"Token":"a"}`,
		`{"redirect_uri":"https://x/y","state":"s"}`, `{"redirect_uri":5}`, `{}`, `[]`, `{"token":"a"}x`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var r revokeBody
		if err := decodeBody(body, &r); err != nil {
			checkRefusal(t, err)
		} else {
			checkAcceptedJSON(t, body, &r)
		}
		var s signoutBody
		if err := decodeBody(body, &s); err != nil {
			checkRefusal(t, err)
		} else {
			checkAcceptedJSON(t, body, &s)
		}
	})
}

// FuzzRoutePath: every path under the devices prefix, and only those and
// the exact endpoint paths, is routed; the device ID the endpoint would
// revoke is exactly the rest of the path, and accepted only if it is a
// well-formed device ID.
func FuzzRoutePath(f *testing.F) {
	for _, s := range []string{
		devicesPath + "dev-1", devicesPath, devicesPath + "a/b", devicesPath + "..", "/auth/v1/user/authorized/devices",
		pathRevoke, pathRevoke + "/", pathRevokeAll, pathMe, "/auth/v1/USER/me", "/", "",
	} {
		f.Add(s)
	}
	exact, prefixed := routeTable()
	a := &API{routes: exact, prefixed: prefixed}
	f.Fuzz(func(t *testing.T, path string) {
		ep := a.route(path)
		_, isExact := exact[path]
		underDevices := strings.HasPrefix(path, devicesPath)
		switch {
		case isExact:
			if ep == nil || ep.path != path {
				t.Fatalf("%q: routed to %v, want its own endpoint", path, ep)
			}
		case underDevices:
			if ep == nil || ep.name != "user.authorized.devices" {
				t.Fatalf("%q: routed to %v, want the device revocation", path, ep)
			}
			id := strings.TrimPrefix(path, devicesPath)
			if validDeviceID(id) && (strings.ContainsAny(id, "/ ?#%") || len(id) > 128) {
				t.Fatalf("device ID %q accepted", id)
			}
		default:
			if ep != nil {
				t.Fatalf("%q: routed to %s, which does not serve it", path, ep.name)
			}
		}
	})
}
