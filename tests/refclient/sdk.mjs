// Builds a CloudbaseOAuth client exactly as an app would, pointed at an
// authedge site, with credentials an app would already have after signing in.
import { CloudbaseOAuth } from '@cloudbase/oauth'

// MemoryStorage is the SDK's SimpleStorage, kept in a Map: Node has no
// localStorage, and the SDK's default storage would touch window.
export class MemoryStorage {
  constructor(entries = {}) {
    this.map = new Map(Object.entries(entries))
  }
  async getItem(k) { return this.getItemSync(k) }
  async setItem(k, v) { this.setItemSync(k, v) }
  async removeItem(k) { this.removeItemSync(k) }
  getItemSync(k) { return this.map.has(k) ? this.map.get(k) : null }
  setItemSync(k, v) { this.map.set(k, String(v)) }
  removeItemSync(k) { this.map.delete(k) }
}

// credentialsKey is where the SDK's LocalCredentials reads and writes the
// signed-in user's credentials: `credentials_${clientId}`.
export const credentialsKey = (clientId) => `credentials_${clientId}`

// newClient returns { oauth, auth, storage }. The storage is pre-filled the
// way the SDK itself fills it after a sign-in (LocalCredentials.setCredentials):
// a JSON object with token_type, access_token, expires_in and expires_at.
// There is deliberately no refresh_token: the SDK refreshes only when
// expires_at has passed, and with no refresh_token it answers such a call
// with a local `unauthenticated` error instead of calling /auth/v1/token.
//
// deviceId, when given, pre-fills the SDK's `device_id` entry (it must be
// 16-48 characters, else the SDK replaces it with a random one); it is then
// sent as x-device-id on every call.
//
// clientId, when given, is the SDK's clientId (else env, as the SDK itself
// defaults it); the credentials are kept under its key.
export function newClient({ url, env, clientId = env, token, expiresIn = 3600, deviceId }) {
  const entries = {}
  if (token) {
    entries[credentialsKey(clientId)] = JSON.stringify({
      token_type: 'Bearer',
      access_token: token,
      expires_in: expiresIn,
      expires_at: new Date(Date.now() + (expiresIn - 30) * 1000).toISOString(),
      scope: 'user',
    })
  }
  if (deviceId) entries.device_id = deviceId
  const storage = new MemoryStorage(entries)
  const oauth = new CloudbaseOAuth({
    apiOrigin: url, // apiPath stays the SDK's default, /auth
    env,
    clientId,
    storage,
  })
  // What @cloudbase/auth does after constructing it; a no-op without
  // detectSessionInUrl, but it settles the initialisation promise.
  oauth.initializeSession()
  return { oauth, auth: oauth.authApi, storage }
}
