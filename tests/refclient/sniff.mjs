// sniff.mjs prints, as JSON lines, exactly what @cloudbase/oauth sends for
// each call authedge serves: it points the SDK at a local recorder that
// answers every request with {} and records method, path, query, headers and
// body. Run: node tests/refclient/sniff.mjs (no server needed).
import http from 'node:http'
import { newClient } from './sdk.mjs'

const seen = []
const server = http.createServer((req, res) => {
  let body = ''
  req.on('data', (c) => { body += c })
  req.on('end', () => {
    const u = new URL(req.url, 'http://x')
    seen.push({
      method: req.method,
      path: u.pathname,
      query: Object.fromEntries(u.searchParams),
      headers: req.headers,
      body: body === '' ? null : body,
    })
    res.setHeader('Content-Type', 'application/json')
    // Shapes good enough for each SDK call to resolve.
    res.end(JSON.stringify({ sub: 'u1', verification_id: 'v1', verification_token: 't1', sudo_token: 's1', expires_in: 600 }))
  })
})
await new Promise((r) => server.listen(0, '127.0.0.1', r))
const url = `http://127.0.0.1:${server.address().port}`

const { auth } = newClient({ url, env: 'demo-env', token: 'ACCESS.TOKEN.SIG' })
const calls = {
  getUserInfo: () => auth.getUserInfo(),
  updateUserBasicInfo: () => auth.updateUserBasicInfo({ nickname: 'Zhang San', username: 'zhangsan', gender: 'MALE' }),
  getVerification: () => auth.getVerification({ phone_number: '+86 13800000000', target: 'ANY' }),
  'getVerification(bare number)': () => auth.getVerification({ phone_number: '13800000000' }),
  'getVerification(CUR_USER)': () => auth.getVerification({ phone_number: '', target: 'CUR_USER' }),
  verify: () => auth.verify({ verification_id: 'v1', verification_code: '123456' }),
  sudo: () => auth.sudo({ verification_token: 't1' }),
  editContact: () => auth.editContact({ phone_number: '+86 13800000001', verification_token: 't1', sudo_token: '' }),
}
for (const [name, call] of Object.entries(calls)) {
  seen.length = 0
  await call()
  for (const r of seen) console.log(JSON.stringify({ call: name, ...r }))
}
server.close()
