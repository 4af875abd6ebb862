// An agent runtime on /mcp, through the official TypeScript SDK's StreamableHTTPClientTransport.
//
// MCP_HOST_TOKEN=<host token> node mcp_http_client.mjs <sdk-dir> <mcp-url> <agent-id> <account-id>
//
// The SDK is installed at test time into <sdk-dir> (never committed); this script imports it
// from there. It first tries to connect without a token (the broker must refuse), then connects
// as the host for the agent and runs describe scope -> request access -> credentials, printing
// one JSON line on stdout; once the Python test has used the credentials and written a line to
// stdin, it releases the grant, ends the session and prints a second JSON line.
import { once } from "node:events";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";
import { join } from "node:path";

const [sdkDir, url, agentId, accountId] = process.argv.slice(2);
const token = process.env.MCP_HOST_TOKEN; // not an argument: arguments are visible to every local process
const sdk = (path) => import(pathToFileURL(join(sdkDir, "dist", "esm", path)).href);
const { Client } = await sdk("client/index.js");
const { StreamableHTTPClientTransport } = await sdk("client/streamableHttp.js");

const READ = {
  account_id: accountId,
  actions: ["s3:GetObject", "s3:ListBucket"],
  resources: ["arn:aws:s3:::reports/*", "arn:aws:s3:::reports"],
  regions: ["us-east-1"],
  ttl_seconds: 900,
};

function connect(headers) {
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
  const client = new Client({ name: "mcp-http-e2e", version: "1.0.0" });
  return { client, transport, ready: client.connect(transport) };
}

async function refusedWithoutToken() {
  const { client, ready } = connect({ "X-Agent-Id": agentId });
  try {
    await ready;
    await client.close();
    return { refused: false };
  } catch (error) {
    return { refused: true, code: error.code ?? null, message: String(error.message) };
  }
}

async function call(client, name, args) {
  const result = await client.callTool({ name, arguments: args });
  const text = result.content.map((item) => item.text ?? "").join("");
  return { is_error: Boolean(result.isError), text };
}

async function flow() {
  const { client, transport, ready } = connect({ Authorization: `Bearer ${token}`, "X-Agent-Id": agentId });
  await ready;
  const out = { session_id: transport.sessionId, server: client.getServerVersion() };
  out.capabilities = client.getServerCapabilities();
  out.tools = (await client.listTools()).tools;
  out.templates = (await client.listResourceTemplates()).resourceTemplates;
  out.scope = await call(client, "aws_describe_scope", { account_id: accountId });
  out.grant = await call(client, "aws_request_access", { ...READ, reason: "daily CSV over /mcp" });
  const grantId = JSON.parse(out.grant.text).grant_id;
  out.credentials = await call(client, "aws_get_credentials", { grant_id: grantId });
  out.resources = (await client.listResources()).resources;
  process.stdout.write(JSON.stringify(out) + "\n");
  const input = createInterface({ input: process.stdin });
  await once(input, "line");
  input.close();
  const released = await call(client, "aws_release_access", { grant_id: grantId });
  await transport.terminateSession();
  await client.close();
  return { released };
}

const unauthorized = await refusedWithoutToken();
process.stdout.write(JSON.stringify({ unauthorized }) + "\n");
process.stdout.write(JSON.stringify(await flow()) + "\n");
process.exit(0);
