// Preload for the real Pinggy CLI (npm `pinggy`): its native addon is replaced by a stub, and the CLI is stopped
// where it would start its daemon, which is after it has parsed and accepted its arguments.
const Module = require("module");
const childProcess = require("child_process");

const stub = new Proxy(function () {}, {
  get: (target, name) => (name === "then" ? undefined : stub),
  apply: () => stub,
  construct: () => stub,
});
const load = Module._load;
Module._load = function (request, parent, isMain) {
  if (request.endsWith(".node")) return stub;
  return load.call(this, request, parent, isMain);
};
for (const name of ["spawn", "fork", "execFile"]) {
  childProcess[name] = () => {
    process.stdout.write("\nPARSE-ONLY: arguments accepted; the CLI would start its daemon now\n");
    setTimeout(() => process.exit(0), 300);  // time for the debug log file (the parsed configuration) to be written
    return stub;
  };
}
