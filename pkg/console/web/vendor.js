// Copies the console's npm dependencies into ../assets/vendor, which the Go
// binary embeds (gitignored: files of other projects are never committed).
// make build runs `npm ci && npm run vendor` before go build.
"use strict";
const fs = require("fs");
const path = require("path");

const out = path.join(__dirname, "..", "assets", "vendor");
const files = [
  ["chart.js/dist/chart.umd.min.js", "chart.umd.min.js"],
  ["chart.js/LICENSE.md", "chart.js.LICENSE.md"],
];

fs.mkdirSync(out, { recursive: true });
for (const [from, to] of files) {
  const src = path.join(__dirname, "node_modules", from);
  if (!fs.existsSync(src)) {
    console.error(`vendor: ${src} is missing; run npm ci in ${__dirname} first`);
    process.exit(1);
  }
  fs.copyFileSync(src, path.join(out, to));
  console.log(`vendor: ${from} -> assets/vendor/${to}`);
}
