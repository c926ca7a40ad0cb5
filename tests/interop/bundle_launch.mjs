// How an MCP Bundle host turns an unpacked bundle into a launch: the @anthropic-ai/mcpb library's own
// getMcpConfigForManifest (defaults merged with what the user entered, ${__dirname} and ${user_config.*} replaced).
//
//   node bundle_launch.mjs UNPACKED_DIR USER_CONFIG_JSON > launch.json
//
// Prints {"command", "args", "env"}; exits 1 if any ${...} is left unreplaced (a host would pass it on literally).
import { readFileSync } from "node:fs";
import { join, sep } from "node:path";
import { getMcpConfigForManifest } from "@anthropic-ai/mcpb";

const [dir, userConfigJson] = process.argv.slice(2);
const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
const config = await getMcpConfigForManifest({
  manifest,
  extensionPath: dir,
  systemDirs: {},
  userConfig: JSON.parse(userConfigJson),
  pathSeparator: sep,
});
if (!config) {
  console.error("mcpb returned no launch config (missing required user_config?)");
  process.exit(1);
}
const launch = { command: config.command, args: config.args ?? [], env: config.env ?? {} };
const left = JSON.stringify(launch).match(/\$\{[^}]*\}/g);
if (left) {
  console.error(`unreplaced variables in the launch: ${[...new Set(left)].join(", ")}`);
  process.exit(1);
}
console.log(JSON.stringify(launch));
