// run.mjs drives authedge through CloudBase's own SDK, @cloudbase/oauth
// 3.3.3, exactly as an app would (docs/api.md#cloudbase-sdk-compatibility),
// and checks every answer. It prints one JSON line per step and a final
// {"summary": ...} line, and exits non-zero on any mismatch. The Go test
// TestReferenceClient runs it.
//
// Environment:
//   AUTHEDGE_URL            the Caddy site, e.g. http://127.0.0.1:8080 (apiOrigin)
//   AUTHEDGE_ENV            environment_id (the SDK's env and clientId)
//   AUTHEDGE_TOKEN          an access token for AUTHEDGE_SUB
//   AUTHEDGE_SUB            that token's sub
//   AUTHEDGE_OTHER_TOKEN    optional: a second user's token (conflict check)
//   AUTHEDGE_FLOWS          comma-separated: core (default), contact, revoke, userapi, history, client, cors
// The cors flow needs AUTHEDGE_ORIGIN, the origin of the page the SDK runs in.
// The userapi flow (setUserProfile, queryUserProfile, checkIfUserExist) also
// needs AUTHEDGE_ADMIN_TOKEN, and runs against a fresh store.
// The client flow runs an SDK whose clientId is not the environment's; it needs
//   AUTHEDGE_CLIENT_ID      that clientId (one of the config's client_ids)
//   AUTHEDGE_CLIENT_TOKEN   a token of AUTHEDGE_SUB whose aud is AUTHEDGE_CLIENT_ID
// The contact flow (verification codes, sudo, editContact) also needs:
//   AUTHEDGE_ADMIN_TOKEN    a token with the admin scope (seeds a bound phone)
//   AUTHEDGE_WEBHOOK_PORT   this script listens there for the codes authedge
//                           delivers (the config's `webhook` points at it)
//   AUTHEDGE_WEBHOOK_SECRET optional: the webhook's HMAC secret, checked
import crypto from 'node:crypto'
import http from 'node:http'
import { isDeepStrictEqual } from 'node:util'
import { credentialsKey, newClient } from './sdk.mjs'

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback
  if (v === undefined) {
    console.error(`run.mjs: ${name} is required`)
    process.exit(2)
  }
  return v
}

const URL_ = env('AUTHEDGE_URL')
const ENV = env('AUTHEDGE_ENV')
const TOKEN = env('AUTHEDGE_TOKEN')
const SUB = env('AUTHEDGE_SUB')
const FLOWS = new Set(env('AUTHEDGE_FLOWS', 'core').split(',').map((s) => s.trim()).filter(Boolean))

// ---- reporting -------------------------------------------------------------

const results = []

class Mismatch extends Error {}

function check(cond, what) {
  if (!cond) throw new Mismatch(what)
}

function eq(actual, expected, what) {
  check(isDeepStrictEqual(actual, expected), `${what}: got ${JSON.stringify(actual)}, want ${JSON.stringify(expected)}`)
}

// step runs one SDK interaction; a thrown Mismatch or an unexpected SDK
// error marks it failed, and the run goes on so one report shows them all.
async function step(name, fn) {
  try {
    const result = await fn()
    results.push({ step: name, ok: true })
    console.log(JSON.stringify({ step: name, ok: true, result }))
    return result
  } catch (e) {
    const problem = e instanceof Mismatch ? e.message : `unexpected error: ${e instanceof Error ? e.stack : JSON.stringify(e)}`
    results.push({ step: name, ok: false })
    console.log(JSON.stringify({ step: name, ok: false, problem }))
    return undefined
  }
}

// rejects awaits an SDK call that must fail, and checks that the SDK's own
// error handling surfaced authedge's error body: the SDK throws the parsed
// JSON object, adding error_uri (the path) and requestId.
async function rejects(promise, { error, status, path }) {
  let err
  try {
    const got = await promise
    throw new Mismatch(`want ${error} (${status}), but the call resolved with ${JSON.stringify(got)}`)
  } catch (e) {
    if (e instanceof Mismatch) throw e
    err = e
  }
  eq(err?.error, error, 'error')
  eq(err?.error_code, status, 'error_code')
  check(typeof err?.error_description === 'string' && err.error_description.length > 0, `error_description missing: ${JSON.stringify(err)}`)
  eq(err?.error_uri, `/auth${path}`, 'error_uri (set by the SDK)')
  check(typeof err?.requestId === 'string' && err.requestId.length > 0, 'requestId (set by the SDK from x-request-id)')
  return { error: err.error, error_code: err.error_code, error_description: err.error_description }
}

// ---- flows -----------------------------------------------------------------

async function coreFlow() {
  const { auth } = newClient({ url: URL_, env: ENV, token: TOKEN })
  const username = 'sdk_user_1'

  await step('getUserInfo (first call creates the profile)', async () => {
    const me = await auth.getUserInfo()
    eq(me.sub, SUB, 'sub')
    eq(me.uid, SUB, 'uid (the SDK copies sub)')
    check(typeof me.created_at === 'string', 'created_at')
    return me
  })

  await step('updateUserBasicInfo', async () => {
    const res = await auth.updateUserBasicInfo({
      nickname: 'Zhang San',
      username,
      gender: 'MALE',
      description: 'set through @cloudbase/oauth',
      avatar_url: 'https://example.com/avatar.png',
    })
    eq(res, {}, 'response')
    return res
  })

  await step('getUserInfo reflects the edit', async () => {
    const me = await auth.getUserInfo()
    eq(
      { name: me.name, username: me.username, gender: me.gender, description: me.description, picture: me.picture },
      { name: 'Zhang San', username, gender: 'MALE', description: 'set through @cloudbase/oauth', picture: 'https://example.com/avatar.png' },
      'profile',
    )
    return me
  })

  await step('getUserInfo with a query (the SDK appends it to user/me): ignored', async () => {
    eq((await auth.getUserInfo({ query: { lang: 'zh-CN' } })).username, username, 'username')
  })

  // deleteMe is not served: the SDK surfaces the 405 as an error at once
  // (no retry: the body is JSON), and the user stays signed in.
  await step('deleteMe: method_not_allowed, credentials kept', async () => {
    const err = await rejects(auth.deleteMe({ sudo_token: 'x' }), { error: 'method_not_allowed', status: 405, path: '/v1/user/me' })
    eq((await auth.getUserInfo()).sub, SUB, 'still signed in')
    return err
  })

  await step('updateUserBasicInfo with a bad field: invalid_argument', () =>
    rejects(auth.updateUserBasicInfo({ gender: 'OTHER' }), { error: 'invalid_argument', status: 400, path: '/v1/user/basic/edit' }))

  await step('updateUserBasicInfo with an unknown field: invalid_argument', () =>
    rejects(auth.updateUserBasicInfo({ nickname: 'Zhang San', new_password: 'x' }), { error: 'invalid_argument', status: 400, path: '/v1/user/basic/edit' }))

  if (process.env.AUTHEDGE_OTHER_TOKEN) {
    const other = newClient({ url: URL_, env: ENV, token: process.env.AUTHEDGE_OTHER_TOKEN }).auth
    await step('another user takes the username in other case: username_already_exists', async () => {
      await other.getUserInfo()
      return rejects(other.updateUserBasicInfo({ username: username.toUpperCase() }), { error: 'username_already_exists', status: 409, path: '/v1/user/basic/edit' })
    })
  }

  await step('a refused token: unauthenticated, and the SDK drops its credentials', async () => {
    const bad = newClient({ url: URL_, env: ENV, token: 'not-a-valid-jwt' })
    const err = await rejects(bad.auth.getUserInfo(), { error: 'unauthenticated', status: 401, path: '/v1/user/me' })
    eq(bad.storage.getItemSync(credentialsKey(ENV)), null, 'stored credentials after a 401')
    return err
  })
}

// standardWebhookOK checks a delivery the Standard Webhooks way
// (docs/webhooks.md), by hand so as to need no package: HMAC-SHA256 over
// "<webhook-id>.<webhook-timestamp>.<body>", keyed with the secret (base64
// after a whsec_ prefix, else its own bytes), compared with each v1
// signature of webhook-signature.
function standardWebhookOK(secret, headers, raw) {
  const id = headers['webhook-id']
  const ts = headers['webhook-timestamp']
  const sigs = headers['webhook-signature']
  if (!id || !ts || !sigs) return false
  if (Math.abs(Date.now() / 1000 - Number(ts)) > 300) return false
  const key = secret.startsWith('whsec_') ? Buffer.from(secret.slice(6), 'base64') : Buffer.from(secret)
  const want = Buffer.from('v1,' + crypto.createHmac('sha256', key).update(`${id}.${ts}.${raw}`).digest('base64'))
  return sigs.split(' ').some((s) => {
    const got = Buffer.from(s)
    return got.length === want.length && crypto.timingSafeEqual(got, want)
  })
}

// A webhook receiver for the codes authedge sends (docs/webhooks.md).
function webhookReceiver(port, secret) {
  const messages = []
  const waiting = []
  const server = http.createServer((req, res) => {
    let raw = ''
    req.on('data', (c) => { raw += c })
    req.on('end', () => {
      let msg
      try {
        msg = JSON.parse(raw)
      } catch {
        msg = { unparsable: raw }
      }
      if (secret) msg.signatureOK = standardWebhookOK(secret, req.headers, raw)
      messages.push(msg)
      waiting.splice(0).forEach((w) => w())
      res.setHeader('Content-Type', 'application/json')
      res.end('{}')
    })
  })
  const listening = new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(Number(port), '127.0.0.1', resolve)
  })
  return {
    listening,
    close: () => new Promise((r) => server.close(r)),
    // message waits for the delivery of one verification_id.
    async message(verificationId, ms = 5000) {
      const deadline = Date.now() + ms
      for (;;) {
        const m = messages.find((x) => x.verification_id === verificationId)
        if (m) return m
        const left = deadline - Date.now()
        if (left <= 0) throw new Mismatch(`no webhook delivery for verification ${verificationId}`)
        await new Promise((r) => {
          const t = setTimeout(r, left)
          waiting.push(() => { clearTimeout(t); r() })
        })
      }
    },
  }
}

async function contactFlow() {
  const secret = process.env.AUTHEDGE_WEBHOOK_SECRET || ''
  const hook = webhookReceiver(env('AUTHEDGE_WEBHOOK_PORT'), secret)
  await hook.listening
  const { auth, storage } = newClient({ url: URL_, env: ENV, token: TOKEN })
  const admin = newClient({ url: URL_, env: ENV, token: env('AUTHEDGE_ADMIN_TOKEN') }).auth
  const P1 = '+86 13800138000'
  const P2 = '+86 13900139000'
  const E1 = 'sdk.user@example.com'

  // sendCode asks for a code through the SDK and reads it off the webhook.
  const sendCode = async (params, want) => {
    const v = await auth.getVerification(params)
    check(typeof v.verification_id === 'string' && v.verification_id.length > 0, `verification_id: ${JSON.stringify(v)}`)
    check(Number.isInteger(v.expires_in) && v.expires_in > 0, `expires_in: ${JSON.stringify(v)}`)
    const m = await hook.message(v.verification_id)
    eq({ channel: m.channel, to: m.to }, want, 'webhook channel and to')
    check(/^\d{6}$/.test(m.code), `code is 6 digits: ${m.code}`)
    if (secret) check(m.signatureOK, 'webhook-signature verifies (Standard Webhooks)')
    return { id: v.verification_id, code: m.code, is_user: v.is_user }
  }

  await step('contact: admin seeds a bound phone (admins skip verification and sudo)', async () => {
    await auth.getUserInfo()
    eq(await admin.updateUserBasicInfo({ user_id: SUB, phone: P1 }), {}, 'response')
  })

  // A first email beside the bound phone needs sudo through the phone: else
  // a stolen access token could bind the thief's email and pass sudo with it.
  await step('editContact binding a first email beside the bound phone without sudo: sudo_required', () =>
    rejects(auth.editContact({ email: E1, verification_token: '', sudo_token: '' }), { error: 'sudo_required', status: 403, path: '/v1/user/contact' }))

  await step('sudo with a password: invalid_argument', () =>
    rejects(auth.sudo({ password: 'hunter2' }), { error: 'invalid_argument', status: 400, path: '/v1/user/sudo' }))

  let sudoToken
  await step('getVerification (CUR_USER) + verify + sudo gives a sudo_token', async () => {
    const me = await auth.getUserInfo()
    const cur = await sendCode({ phone_number: me.phone_number, target: 'CUR_USER' }, { channel: 'sms', to: P1 })
    const { verification_token } = await auth.verify({ verification_id: cur.id, verification_code: cur.code })
    const s = await auth.sudo({ verification_token })
    check(typeof s.sudo_token === 'string' && s.sudo_token.length > 0, 'sudo_token')
    check(Number.isInteger(s.expires_in) && s.expires_in > 0, 'expires_in')
    sudoToken = s.sudo_token
  })

  await step('editContact with sudo but no verification_token: verification_required', () =>
    rejects(auth.editContact({ email: E1, verification_token: '', sudo_token: sudoToken }), { error: 'verification_required', status: 400, path: '/v1/user/contact' }))

  let sent
  await step('getVerification (ANY) for a new email', async () => {
    sent = await sendCode({ email: E1, target: 'ANY' }, { channel: 'email', to: E1 })
    eq(sent.is_user, false, 'is_user')
    return { is_user: sent.is_user }
  })

  await step('verify with a wrong code: invalid_verification_code', () => {
    const wrong = String((Number(sent?.code ?? 0) + 1) % 1000000).padStart(6, '0')
    return rejects(auth.verify({ verification_id: sent?.id, verification_code: wrong }), { error: 'invalid_verification_code', status: 400, path: '/v1/verification/verify' })
  })

  let vt
  await step('verify (sent without a token) gives a verification_token', async () => {
    const r = await auth.verify({ verification_id: sent?.id, verification_code: sent?.code })
    check(typeof r.verification_token === 'string' && r.verification_token.length > 0, 'verification_token')
    check(Number.isInteger(r.expires_in) && r.expires_in > 0, 'expires_in')
    vt = r.verification_token
  })

  await step('editContact binds a first email with verification and sudo', async () => {
    eq(await auth.editContact({ email: E1, verification_token: vt, sudo_token: sudoToken }), {}, 'response')
    const me = await auth.getUserInfo()
    eq({ email: me.email, phone_number: me.phone_number }, { email: E1, phone_number: P1 }, 'contacts')
  })

  await step('editContact replacing the bound phone without sudo: sudo_required', () =>
    rejects(auth.editContact({ phone_number: P2, verification_token: '', sudo_token: '' }), { error: 'sudo_required', status: 403, path: '/v1/user/contact' }))

  await step('editContact with sudo but no verification_token: verification_required', () =>
    rejects(auth.editContact({ phone_number: P2, verification_token: '', sudo_token: sudoToken }), { error: 'verification_required', status: 400, path: '/v1/user/contact' }))

  let vt2
  await step('editContact changes the phone with verification and sudo', async () => {
    const next = await sendCode({ phone_number: P2, target: 'NOT_USER' }, { channel: 'sms', to: P2 })
    vt2 = (await auth.verify({ verification_id: next.id, verification_code: next.code })).verification_token
    eq(await auth.editContact({ phone_number: P2, verification_token: vt2, sudo_token: sudoToken }), {}, 'response')
    const me = await auth.getUserInfo()
    eq(me.phone_number, P2, 'phone_number')
  })

  await step('a used verification_token: invalid_verification_token', () =>
    rejects(auth.updateUserBasicInfo({ phone: '+86 13700137000', verification_token: vt2, sudo_token: sudoToken }), { error: 'invalid_verification_token', status: 400, path: '/v1/user/basic/edit' }))

  // getVerification writes "+86 " in front of a number that does not start
  // with "+<cc> <digit>"; editContact sends the number as given.
  await step('getVerification and editContact with an unspaced international number', async () => {
    const P3 = '+8613600136000'
    const sent3 = await sendCode({ phone_number: P3, target: 'NOT_USER' }, { channel: 'sms', to: '+86 13600136000' })
    const { verification_token } = await auth.verify({ verification_id: sent3.id, verification_code: sent3.code })
    eq(await auth.editContact({ phone_number: P3, verification_token, sudo_token: sudoToken }), {}, 'response')
    eq((await auth.getUserInfo()).phone_number, '+86 13600136000', 'phone_number')
  })

  // sendVerificationCodeToCurrentUser first gets a captcha token from
  // CloudBase's captcha endpoints (not authedge's) unless its storage holds
  // one, as it does after a captcha; it sends it as ?captcha_token=, which
  // authedge ignores. Fifth code of this caller: within the 5 a minute.
  await step('sendVerificationCodeToCurrentUser (a stored captcha token) + verify + sudo', async () => {
    storage.setItemSync(`captcha_${ENV}`, JSON.stringify({
      captcha_token: 'captcha-from-elsewhere', expires_in: 600, expires_at: new Date(Date.now() + 590e3).toISOString(),
    }))
    const v = await auth.sendVerificationCodeToCurrentUser({ phone_number: '' })
    check(typeof v.verification_id === 'string' && v.verification_id.length > 0, `verification_id: ${JSON.stringify(v)}`)
    eq(v.is_user, true, 'is_user')
    const m = await hook.message(v.verification_id)
    eq({ channel: m.channel, to: m.to }, { channel: 'sms', to: '+86 13600136000' }, 'webhook channel and to')
    const { verification_token } = await auth.verify({ verification_id: v.verification_id, verification_code: m.code })
    const s = await auth.sudo({ verification_token })
    check(typeof s.sudo_token === 'string' && s.sudo_token.length > 0, 'sudo_token')
  })

  await hook.close()
}

// The revoke flow: the SDK's four ways to revoke, each followed by a refused
// getUserInfo. It needs, all for AUTHEDGE_SUB and issued before the run:
//   AUTHEDGE_REVOKE_TOKENS  four comma-separated access tokens, one per step
//   AUTHEDGE_DEVICE_TOKEN   a token bound (device claim) to AUTHEDGE_DEVICE_ID,
//                           16-48 characters so the SDK keeps it as its device_id
// revokeAllDevices comes last: it revokes every token of the user, TOKEN too.
async function revokeFlow() {
  const [t1, t2, t3, t4] = env('AUTHEDGE_REVOKE_TOKENS').split(',')
  const deviceToken = env('AUTHEDGE_DEVICE_TOKEN')
  const deviceId = env('AUTHEDGE_DEVICE_ID')
  const client = (token, deviceId) => newClient({ url: URL_, env: ENV, token, deviceId }).auth

  // refused checks that a fresh client holding token is refused as revoked.
  const refused = async (token, deviceId) => {
    const err = await rejects(client(token, deviceId).getUserInfo(), { error: 'unauthenticated', status: 401, path: '/v1/user/me' })
    check(/revoked/.test(err.error_description), `error_description says revoked: ${err.error_description}`)
    return err
  }

  await step('revoke: signOut() revokes the stored token (POST /v1/revoke)', async () => {
    const auth = client(t1)
    await auth.getUserInfo()
    await auth.signOut()
    return refused(t1)
  })

  await step('revoke: signOut(params) revokes the presented token (POST /v1/user/signout)', async () => {
    const auth = client(t2)
    await auth.getUserInfo()
    const res = await auth.signOut({ redirect_uri: 'https://evil.example/phish', state: 'xyz' })
    eq(res, {}, 'response (redirect_uri never echoed)')
    return refused(t2)
  })

  await step('revoke: revokeDevice revokes the tokens bound to that device', async () => {
    const onDevice = client(deviceToken, deviceId)
    eq((await onDevice.getUserInfo()).sub, SUB, 'the device token works before')
    await client(t3).revokeDevice({ device_id: deviceId })
    await client(t3).getUserInfo() // an unbound token of the same user still works
    return refused(deviceToken, deviceId)
  })

  await step('revoke: revokeAllDevices revokes every token of the user', async () => {
    await client(TOKEN).getUserInfo()
    await client(t4).revokeAllDevices()
    await refused(t4)
    return refused(TOKEN)
  })
}

async function userapiFlow() {
  const { auth } = newClient({ url: URL_, env: ENV, token: TOKEN })
  const admin = newClient({ url: URL_, env: ENV, token: env('AUTHEDGE_ADMIN_TOKEN') }).auth
  const anonymous = newClient({ url: URL_, env: ENV }).auth
  const username = 'SDK_Profile_1'

  await step('setUserProfile answers the whole profile', async () => {
    const res = await auth.setUserProfile({
      name: 'Li Lei', username, gender: 'FEMALE', birthdate: '1990-05-17', zoneinfo: 'Asia/Shanghai', locale: 'zh-hans-cn',
      picture: 'https://example.com/li.png', description: 'set through setUserProfile',
    })
    eq(
      [res.sub, res.name, res.username, res.gender, res.birthdate, res.zoneinfo, res.locale, res.picture, res.description],
      [SUB, 'Li Lei', username, 'FEMALE', '1990-05-17', 'Asia/Shanghai', 'zh-Hans-CN', 'https://example.com/li.png', 'set through setUserProfile'],
      'profile (locale stored canonical)',
    )
    return res
  })

  await step('getUserInfo shows birthdate, zoneinfo and locale', async () => {
    const me = await auth.getUserInfo()
    eq([me.birthdate, me.zoneinfo, me.locale, me.name], ['1990-05-17', 'Asia/Shanghai', 'zh-Hans-CN', 'Li Lei'], 'profile')
    return me
  })

  await step('setUserProfile with an impossible date: invalid_argument', () =>
    rejects(auth.setUserProfile({ birthdate: '2023-02-29' }), { error: 'invalid_argument', status: 400, path: '/v1/user/profile' }))

  await step('setUserProfile with Mars/Olympus: invalid_argument', () =>
    rejects(auth.setUserProfile({ zoneinfo: 'Mars/Olympus' }), { error: 'invalid_argument', status: 400, path: '/v1/user/profile' }))

  await step('checkIfUserExist (no token) finds the username in another case', async () => {
    const res = await anonymous.checkIfUserExist({ username: username.toLowerCase() })
    eq(res, { exist: true }, 'response')
    return res
  })

  await step('checkIfUserExist of a free username', async () => {
    const res = await anonymous.checkIfUserExist({ username: 'nobody_has_this' })
    eq(res, { exist: false }, 'response')
    return res
  })

  await step('admin binds a phone and an email (admins skip verification and sudo)', async () => {
    eq(await admin.updateUserBasicInfo({ user_id: SUB, phone: '+86 13800138000', email: 'Li.Lei@Bücher.example' }), {}, 'response')
  })

  const want = {
    sub: SUB, name: 'Li Lei', picture: 'https://example.com/li.png', gender: 'FEMALE',
    email: 'Li.Lei@Bücher.example', phone_number: '+86 13800138000', username,
  }
  const queries = [
    ['username, in another case', { username: username.toUpperCase() }],
    ['email, its domain in IDNA form', { email: 'li.lei@xn--bcher-kva.example' }],
    ['phone_number, without the space', { phone_number: '+8613800138000' }],
    ['id, a list with an unknown one', { id: ['nobody', SUB] }],
    // URLSearchParams writes these as email=undefined&phone_number=null.
    ['username, beside properties left unset', { username, email: undefined, phone_number: null }],
  ]
  for (const [what, params] of queries) {
    await step(`queryUserProfile by ${what}`, async () => {
      const res = await admin.queryUserProfile(params)
      eq(res, { total: 1, data: [want] }, 'response')
      return res
    })
  }

  await step('queryUserProfile with no match: total 0', async () => {
    const res = await admin.queryUserProfile({ username: 'nobody_has_this' })
    eq(res, { total: 0, data: [] }, 'response')
    return res
  })

  await step('queryUserProfile without the admin scope: permission_denied', () =>
    rejects(auth.queryUserProfile({ username }), { error: 'permission_denied', status: 403, path: '/v1/user/query' }))
}

// historyFlow: three edits through the SDK, then getUserBehaviorLog lists
// them newest first, two pages of two and one, field names without values;
// type LOGIN is an empty list.
async function historyFlow() {
  const { auth } = newClient({ url: URL_, env: ENV, token: TOKEN })
  const edits = [{ nickname: 'History One' }, { nickname: 'History Two', gender: 'FEMALE' }, { description: 'history three' }]
  await step('three edits for the history', async () => {
    for (const e of edits) eq(await auth.updateUserBasicInfo(e), {}, 'response')
  })

  let first
  await step('getUserBehaviorLog MODIFY, limit 2: the two newest', async () => {
    first = await auth.getUserBehaviorLog({ type: 'MODIFY', limit: 2 })
    check(Array.isArray(first?.data), `data: ${JSON.stringify(first)}`)
    eq(first.data.map((d) => d.fields), [['description'], ['nickname', 'gender']], 'fields, newest first')
    for (const d of first.data) {
      eq(d.action, 'USER_MODIFY', 'action')
      eq(d.meta, { from: 'self' }, 'meta')
      eq(d.client_id, ENV, 'client_id')
      check(typeof d.id === 'string' && d.id.length > 0, 'id')
      check(!Number.isNaN(Date.parse(d.created_at)), `created_at: ${d.created_at}`)
      check(typeof d.ip === 'string' && d.ip.length > 0, 'ip')
      check(typeof d.user_agent === 'string', 'user_agent')
      check(typeof d.device_id === 'string' && d.device_id.length > 0, 'device_id (the SDK sends x-device-id)')
    }
    check(!JSON.stringify(first).includes('History Two'), 'no values in the history')
    check(typeof first.next_page_token === 'string' && first.next_page_token.length > 0, 'next_page_token')
    return first
  })

  await step('getUserBehaviorLog MODIFY, second page', async () => {
    const second = await auth.getUserBehaviorLog({ type: 'MODIFY', limit: 2, page_token: first?.next_page_token })
    eq(second.data.map((d) => d.fields), [['nickname']], 'fields of the oldest edit')
    eq(second.next_page_token, undefined, 'no further page')
    check(!first.data.some((d) => d.id === second.data[0].id), 'the second page repeats nothing')
    return second
  })

  await step('getUserBehaviorLog MODIFY without a limit (the SDK sends limit=undefined)', async () => {
    const all = await auth.getUserBehaviorLog({ type: 'MODIFY' })
    eq(all.data.length, 3, 'entries')
  })

  await step('getUserBehaviorLog MODIFY with limit null (the SDK sends limit=null)', async () => {
    const all = await auth.getUserBehaviorLog({ type: 'MODIFY', limit: null })
    eq(all.data.length, 3, 'entries')
  })

  await step('getUserBehaviorLog LOGIN: empty', async () => {
    eq(await auth.getUserBehaviorLog({ type: 'LOGIN', limit: 10 }), { data: [] }, 'response')
  })

  await step('getUserBehaviorLog with a changed page_token: invalid_argument', () => {
    const t = first?.next_page_token ?? ''
    const changed = t.slice(0, 10) + (t[10] === 'B' ? 'C' : 'B') + t.slice(11)
    return rejects(auth.getUserBehaviorLog({ type: 'MODIFY', limit: 2, page_token: changed }),
      { error: 'invalid_argument', status: 400, path: '/v1/user/security/history' })
  })
}

// clientFlow: an app whose SDK clientId is not the environment_id, signed
// in with a token issued to that client (aud = clientId). The SDK sends
// ?client_id= only on calls without credentials, so authenticated calls
// reach authedge with the environment as their client: the token's aud is
// accepted through `jwt { audience }` (docs/api.md#cloudbase-sdk-compatibility).
// Without it every authenticated call is 401 and the SDK signs the user out.
async function clientFlow() {
  const clientId = env('AUTHEDGE_CLIENT_ID')
  const token = env('AUTHEDGE_CLIENT_TOKEN')
  const client = () => newClient({ url: URL_, env: ENV, clientId, token })
  const { auth, storage } = client()

  await step('client: getUserInfo with a token issued to the SDK\'s clientId', async () => {
    const me = await auth.getUserInfo()
    eq(me.sub, SUB, 'sub')
    check(storage.getItemSync(credentialsKey(clientId)) !== null, 'the SDK kept its credentials')
    return me
  })

  await step('client: updateUserBasicInfo', async () => {
    eq(await auth.updateUserBasicInfo({ nickname: 'Client User' }), {}, 'response')
    eq((await auth.getUserInfo()).name, 'Client User', 'name')
  })

  await step('client: checkIfUserExist (no token, ?client_id= the clientId)', async () => {
    eq(await auth.checkIfUserExist({ username: 'nobody_has_this' }), { exist: false }, 'response')
  })

  await step('client: signOut() (no token, ?client_id= the clientId) revokes it', async () => {
    await auth.signOut()
    eq(storage.getItemSync(credentialsKey(clientId)), null, 'stored credentials after signOut')
    const err = await rejects(client().auth.getUserInfo(), { error: 'unauthenticated', status: 401, path: '/v1/user/me' })
    check(/revoked/.test(err.error_description), `error_description says revoked: ${err.error_description}`)
    return err
  })
}

// corsFetch is fetch as a browser on another origin runs it (the Fetch
// standard's CORS protocol), for the SDK to call through: a request that
// is not simple (another method than GET, HEAD and POST, or a header that
// is not CORS-safelisted) is preceded by a preflight, which must answer
// 2xx allowing the origin, the method and every such header; the answer
// itself must allow the origin. A refusal rejects with a TypeError, as a
// browser's fetch does, and the SDK then reports `unreachable`.
function corsFetch(origin, realFetch) {
  const safelisted = new Set(['accept', 'accept-language', 'content-language', 'content-type'])
  const simpleTypes = new Set(['application/x-www-form-urlencoded', 'multipart/form-data', 'text/plain'])
  const allows = (res) => [origin, '*'].includes(res.headers.get('access-control-allow-origin'))
  return async (url, init = {}) => {
    const method = (init.method || 'GET').toUpperCase()
    const headers = new Headers(init.headers)
    if (init.body !== undefined && init.body !== null && typeof init.body === 'string' && !headers.has('content-type')) {
      headers.set('content-type', 'text/plain;charset=UTF-8') // what fetch adds to a string body
    }
    const unsafe = []
    for (const [name, value] of headers) {
      if (!safelisted.has(name) || (name === 'content-type' && !simpleTypes.has(value.split(';')[0].trim().toLowerCase()))) {
        unsafe.push(name)
      }
    }
    unsafe.sort()
    const simpleMethod = ['GET', 'HEAD', 'POST'].includes(method)
    if (!simpleMethod || unsafe.length > 0) {
      const pre = await realFetch(url, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': method, ...(unsafe.length ? { 'access-control-request-headers': unsafe.join(',') } : {}) },
      })
      if (!pre.ok || !allows(pre)) throw new TypeError(`CORS preflight: ${pre.status}, Access-Control-Allow-Origin ${pre.headers.get('access-control-allow-origin')}`)
      const list = (h) => (pre.headers.get(h) || '').split(',').map((v) => v.trim()).filter(Boolean)
      const methods = list('access-control-allow-methods')
      if (!simpleMethod && !methods.includes(method) && !methods.includes('*')) throw new TypeError(`CORS preflight does not allow the method ${method}`)
      const allowed = list('access-control-allow-headers').map((v) => v.toLowerCase())
      for (const h of unsafe) {
        if (!allowed.includes(h) && !(allowed.includes('*') && h !== 'authorization')) throw new TypeError(`CORS preflight does not allow the header ${h}`)
      }
    }
    headers.set('origin', origin)
    const res = await realFetch(url, { ...init, headers })
    if (!allows(res)) throw new TypeError(`CORS: the answer (${res.status}) does not allow the origin`)
    return res
  }
}

// corsFlow: the SDK in a browser page on another origin (AUTHEDGE_ORIGIN),
// against docs/configuration.md's CORS route: every kind of call it makes
// (GET, POST, PATCH and DELETE, with and without a token) passes the
// browser's CORS checks, and authedge's errors reach the app as themselves.
async function corsFlow() {
  const origin = env('AUTHEDGE_ORIGIN')
  const realFetch = globalThis.fetch
  globalThis.fetch = corsFetch(origin, realFetch) // the SDK calls the global fetch
  try {
    await corsSteps()
  } finally {
    globalThis.fetch = realFetch // the flows after this one run outside a browser
  }
}

async function corsSteps() {
  const { auth } = newClient({ url: URL_, env: ENV, token: TOKEN })

  await step('cors: getUserInfo', async () => eq((await auth.getUserInfo()).sub, SUB, 'sub'))

  await step('cors: updateUserBasicInfo', async () => eq(await auth.updateUserBasicInfo({ nickname: 'Cors User' }), {}, 'response'))

  await step('cors: setUserProfile (PATCH)', async () => eq((await auth.setUserProfile({ locale: 'fr' })).name, 'Cors User', 'name'))

  await step('cors: a refused edit surfaces invalid_argument', () =>
    rejects(auth.updateUserBasicInfo({ gender: 'OTHER' }), { error: 'invalid_argument', status: 400, path: '/v1/user/basic/edit' }))

  await step('cors: checkIfUserExist (no token)', async () => eq(await auth.checkIfUserExist({ username: 'nobody_has_this' }), { exist: false }, 'response'))

  await step('cors: revokeAllDevices (DELETE), then the token is refused', async () => {
    await auth.revokeAllDevices()
    return rejects(newClient({ url: URL_, env: ENV, token: TOKEN }).auth.getUserInfo(), { error: 'unauthenticated', status: 401, path: '/v1/user/me' })
  })
}

// ---- main --------------------------------------------------------------------

const watchdog = setTimeout(() => {
  console.log(JSON.stringify({ step: 'watchdog', ok: false, problem: 'run.mjs took over 60s' }))
  process.exit(1)
}, 60000)
watchdog.unref()

for (const flow of FLOWS) {
  if (flow === 'core') await coreFlow()
  else if (flow === 'contact') await contactFlow()
  else if (flow === 'revoke') await revokeFlow()
  else if (flow === 'userapi') await userapiFlow()
  else if (flow === 'history') await historyFlow()
  else if (flow === 'client') await clientFlow()
  else if (flow === 'cors') await corsFlow()
  else {
    console.error(`run.mjs: unknown flow ${flow}`)
    process.exit(2)
  }
}

const failed = results.filter((r) => !r.ok).length
console.log(JSON.stringify({ summary: { flows: [...FLOWS], steps: results.length, failed } }))
process.exitCode = failed === 0 && results.length > 0 ? 0 : 1
