// verify.mjs checks webhook signatures with the Standard Webhooks reference
// library, the one a Node receiver of authedge's webhooks would use.
// internal/stdwebhook's tests run it.
//
// stdin: a JSON array of cases {secret, raw, body, headers}; raw means the
// secret's bytes are the key (the library's {format: "raw"}), else it is a
// "whsec_" secret. stdout: a JSON array of {ok, error}, one per case.
import { Webhook } from "standardwebhooks";

let input = "";
for await (const chunk of process.stdin) input += chunk;

const results = JSON.parse(input).map(({ secret, raw, body, headers }) => {
  try {
    const wh = raw ? new Webhook(secret, { format: "raw" }) : new Webhook(secret);
    wh.verify(body, headers);
    return { ok: true };
  } catch (e) {
    return { ok: false, error: String(e && e.message ? e.message : e) };
  }
});
process.stdout.write(JSON.stringify(results) + "\n");
