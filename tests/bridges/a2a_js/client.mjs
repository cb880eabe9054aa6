// An A2A client built with the A2A project's JavaScript SDK (@a2a-js/sdk): it fetches the
// agent's card from the bridge, sends one text message over the binding named on the command
// line, and prints the final task as JSON. Usage:
//   node client.mjs <agent base URL> <bearer token> <JSONRPC|HTTP+JSON> <text>
import {
  ClientFactory,
  ClientFactoryOptions,
  JsonRpcTransportFactory,
  RestTransportFactory,
} from "@a2a-js/sdk/client";

const [baseUrl, token, binding, text] = process.argv.slice(2);

const authorized = (input, init = {}) => {
  const headers = new Headers(init.headers || {});
  headers.set("Authorization", `Bearer ${token}`);
  return fetch(input, { ...init, headers });
};

const factory = new ClientFactory(
  ClientFactoryOptions.createFrom(ClientFactoryOptions.default, {
    transports: [
      new JsonRpcTransportFactory({ fetchImpl: authorized }),
      new RestTransportFactory({ fetchImpl: authorized }),
    ],
    preferredTransports: [binding],
  }),
);

const client = await factory.createFromUrl(`${baseUrl}/.well-known/agent-card.json`, "");
const result = await client.sendMessage({
  tenant: "",
  message: {
    messageId: "node-1",
    contextId: "",
    taskId: "",
    role: 1, // ROLE_USER
    parts: [{ content: { $case: "text", value: text }, metadata: undefined, filename: "", mediaType: "" }],
    metadata: undefined,
    extensions: [],
    referenceTaskIds: [],
  },
  configuration: undefined,
  metadata: undefined,
});
console.log(JSON.stringify(result, (key, value) => (typeof value === "bigint" ? Number(value) : value)));
