'use strict';
// The floor of a stack's synth: load only cdktf and the provider submodules the stack's resources come from, make
// an empty App, exit. Whatever a stack costs above this is the library's own work.
// Usage: node bench/floor-child.js <outdir> <module>...
const [outdir, ...modules] = process.argv.slice(2);
const { App } = require('cdktf');
for (const m of modules) require(m);
new App({ outdir });
console.log(JSON.stringify({ maxRssKiB: process.resourceUsage().maxRSS }));
