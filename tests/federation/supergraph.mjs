// A supergraph of LearnGraph and a small "employees" subgraph, behind a real Apollo Gateway on loopback.
//
//   node supergraph.mjs <learngraph-graphql-url> <learngraph-subgraph-sdl-file> <employees-json-file>
//
// Composes LearnGraph's subgraph SDL with the employees subgraph's (@apollo/composition), serves the
// employees subgraph and the gateway on free loopback ports, and prints one JSON line with the gateway's
// URL once both listen (`SUPERGRAPH {"gateway": ...}`; Apollo Server writes lines of its own too). The gateway passes each client's Authorization header on to LearnGraph.
import { readFileSync } from "node:fs";

import { composeServices } from "@apollo/composition";
import { ApolloGateway, RemoteGraphQLDataSource } from "@apollo/gateway";
import { ApolloServer } from "@apollo/server";
import { startStandaloneServer } from "@apollo/server/standalone";
import { buildSubgraphSchema } from "@apollo/subgraph";
import { parse } from "graphql";

const [learngraphUrl, sdlFile, employeesFile] = process.argv.slice(2);
const employees = JSON.parse(readFileSync(employeesFile, "utf8"));

// Each employee names a LearnGraph User by email; LearnGraph's User gains each person's department.
const employeesTypeDefs = parse(`
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])

  type Query {
    employees: [Employee!]!
  }

  type Employee @key(fields: "email") {
    email: String!
    name: String!
    department: String!
    "The employee's training, from LearnGraph."
    training: User
  }

  type User @key(fields: "email") {
    email: String
    department: String
  }
`);

const byEmail = new Map(employees.map((e) => [e.email.toLowerCase(), e]));
const resolvers = {
  Query: { employees: () => employees },
  Employee: {
    __resolveReference: (ref) => byEmail.get(ref.email.toLowerCase()) ?? null,
    training: (employee) => ({ __typename: "User", email: employee.email }),
  },
  User: {
    __resolveReference: (ref) => ({ email: ref.email }),
    department: (user) => (user.email ? byEmail.get(user.email.toLowerCase())?.department ?? null : null),
  },
};

const employeesServer = new ApolloServer({
  schema: buildSubgraphSchema([{ typeDefs: employeesTypeDefs, resolvers }]),
});
const { url: employeesUrl } = await startStandaloneServer(employeesServer, {
  listen: { host: "127.0.0.1", port: 0 },
});

const composed = composeServices([
  { name: "learngraph", url: learngraphUrl, typeDefs: parse(readFileSync(sdlFile, "utf8")) },
  { name: "employees", url: employeesUrl, typeDefs: employeesTypeDefs },
]);
if (composed.errors) {
  console.error(composed.errors.map((e) => e.toString()).join("\n"));
  process.exit(3);
}

class PassAuthorization extends RemoteGraphQLDataSource {
  willSendRequest({ request, context }) {
    if (context.authorization) request.http.headers.set("authorization", context.authorization);
  }
}

const gateway = new ApolloGateway({
  supergraphSdl: composed.supergraphSdl,
  buildService: ({ url }) => new PassAuthorization({ url }),
});
const gatewayServer = new ApolloServer({ gateway });
const { url: gatewayUrl } = await startStandaloneServer(gatewayServer, {
  listen: { host: "127.0.0.1", port: 0 },
  context: async ({ req }) => ({ authorization: req.headers.authorization }),
});
console.log("SUPERGRAPH " + JSON.stringify({ gateway: gatewayUrl, employees: employeesUrl }));
