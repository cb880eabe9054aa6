// An MCP client written with the Model Context Protocol's TypeScript SDK (not by us):
// Streamable HTTP with a bearer token to the gateway's MCP bridge.
//
// Usage: node client.mjs <mcp-url> <token> <wrong-token> <tool> <late-tool>
// Prints one JSON line when it has listed and called the tools ("called"), then waits for
// notifications/tools/list_changed until <late-tool> is listed and prints a second line
// ("changed"). Exits 1 with the error on stderr when anything fails.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ToolListChangedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";

const [url, token, wrongToken, tool, lateTool] = process.argv.slice(2);
const DEADLINE_MS = 20000; // for failing only

function connect(bearer) {
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { Authorization: `Bearer ${bearer}` } },
  });
  const client = new Client({ name: "aiconexus-node-test", version: "1.0.0" });
  return { client, connected: client.connect(transport) };
}

function within(promise, what) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${DEADLINE_MS} ms`)), DEADLINE_MS);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

async function toolNames(client) {
  return (await client.listTools()).tools.map((t) => t.name);
}

async function main() {
  const refused = connect(wrongToken);
  let wrong = null;
  try {
    await refused.connected;
  } catch (error) {
    wrong = { name: error.name, message: String(error.message), code: error.code ?? null };
  }
  await refused.client.close();

  const { client, connected } = connect(token);
  let notified = 0;
  let wake = () => {};
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
    notified += 1;
    wake();
  });
  await connected;

  let names = await toolNames(client);
  await within(
    (async () => {
      while (!names.includes(tool)) {
        await new Promise((r) => setTimeout(r, 100));
        names = await toolNames(client);
      }
    })(),
    `tool ${tool}`,
  );
  const tools = (await client.listTools()).tools;
  const added = await client.callTool({ name: "add", arguments: { a: 2, b: 40 } });
  const failed = await client.callTool({ name: tool, arguments: { fail: "from node" } });
  const invalid = await client.callTool({ name: "add", arguments: { a: "two", b: 1 } });
  let unknown = null;
  try {
    await client.callTool({ name: "no-such-tool", arguments: {} });
  } catch (error) {
    unknown = { message: String(error.message), code: error.code ?? null };
  }
  const capabilities = client.getServerCapabilities();
  console.log(JSON.stringify({ step: "called", wrong, tools, added, failed, invalid, unknown, capabilities }));

  // Only a notification makes this client list again: the late tool must be announced.
  let late = [];
  let seen = notified;
  await within(
    (async () => {
      while (!late.includes(lateTool)) {
        if (notified === seen) await new Promise((resolve) => (wake = resolve));
        seen = notified;
        late = await toolNames(client);
      }
    })(),
    `notifications/tools/list_changed announcing ${lateTool}`,
  );
  console.log(JSON.stringify({ step: "changed", names: late }));
  await client.close();
}

main().catch((error) => {
  console.error(error?.stack ?? String(error));
  process.exit(1);
});
