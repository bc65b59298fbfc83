// Parse LaTeX with KaTeX: reads a JSON array of math strings on stdin, writes a JSON
// array with null (parsed) or the error message for each. Usage:
//   node tests/katex_check.js PATH/TO/node_modules/katex < formulas.json
const katex = require(process.argv[2]);
let input = "";
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  const results = JSON.parse(input).map((tex) => {
    try {
      // (maxExpand: a large sample's explanation is long, not recursive)
      katex.renderToString(tex, { displayMode: true, throwOnError: true, strict: "error",
                                  maxExpand: Infinity });
      return null;
    } catch (e) {
      return String(e.message);
    }
  });
  process.stdout.write(JSON.stringify(results));
});
