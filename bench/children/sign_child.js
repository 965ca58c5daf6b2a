// wechat-jssdk's signature generation behind the same line protocol as sign_child.py.
//   node sign_child.js <node_modules-prefix> <target-seconds> <cpu|wall>
// JSSDK.generateSignature(url, accessToken, ticket) is the library's own function: it
// makes the nonce (utils.nonceStr), the timestamp (utils.timestamp), normalises the URL
// and hashes with utils.genSHA1 over utils.paramsToString, as getSignatureByURL does.
"use strict";
const path = require("path");
const readline = require("readline");

const prefix = process.argv[2];
const targetSeconds = parseFloat(process.argv[3] || "0.2");
// The same clocks as _timing.py: CPU time of the process (user + system) or wall time.
const clock =
  (process.argv[4] || "cpu") === "cpu"
    ? () => {
        const u = process.cpuUsage();
        return (u.user + u.system) / 1e6;
      }
    : () => Number(process.hrtime.bigint()) / 1e9;
const lib = require(path.join(prefix, "node_modules", "wechat-jssdk"));
const utils = require(path.join(prefix, "node_modules", "wechat-jssdk", "lib", "utils"));
const JSSDK = lib.JSSDK;

const TICKET = "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg";
const URL = "https://shop.example.com/products/42?from=timeline&isappinstalled=0";
const TOKEN = "ACCESS_TOKEN";

let sink = 0;
function sign() {
  sink += JSSDK.generateSignature(URL, TOKEN, TICKET).signature.length;
}

function timeCalls(number) {
  const start = clock();
  for (let i = 0; i < number; i++) sign();
  return (clock() - start) / number;
}

function calibrate() {
  let number = 1;
  for (;;) {
    const start = clock();
    timeCalls(number);
    const elapsed = clock() - start;
    if (elapsed >= targetSeconds / 4 || number >= 1e7) {
      return Math.max(1, Math.floor(targetSeconds / Math.max(elapsed / number, 1e-9)));
    }
    number *= 4;
  }
}

const check = utils.genSHA1(
  utils.paramsToString({
    jsapi_ticket: TICKET,
    nonceStr: "Wm3WZYTPz0wzccnW",
    timestamp: "1414587457",
    url: JSSDK.normalizeUrl(URL),
  })
);
timeCalls(20000); // let V8 optimise sign() before calibrating
const number = calibrate();
process.stdout.write(`ready ${number} ${check}\n`);

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  const command = line.trim();
  if (command === "run") {
    process.stdout.write(`${timeCalls(number)}\n`);
  } else {
    rl.close();
  }
});
rl.on("close", () => {
  if (sink < 0) console.error(sink); // keep sink alive
  process.exit(0);
});
