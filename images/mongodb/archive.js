// node archive.js export FILE | import FILE: the backup of the image built from PyPI and npm, which has
// no mongodump, run by backup.sh and restore.sh (as root, which reads the admin password's secret) with
// the MongoDB Node.js driver that npm/package-lock.json pins. A plain driver program, not a mongosh
// script: it needs a third of mongosh's memory, which the database shares under the app's budget.
//
// export writes every collection and view of every database but admin, config and local to FILE as
// lines of canonical Extended JSON, which keeps every BSON type:
//   {"format":"tm351-mongodb-ejson","format_version":1,"server":"6.0.5","created":"…"}
//   {"collection":{"db":…,"name":…,"type":"collection" or "timeseries","options":{…},"indexes":[…]}}
//   {"document":{…}}   one line per document of the collection above
//   {"view":{"db":…,"name":…,"options":{"viewOn":…,"pipeline":[…]}}}
//   {"end":{"collections":…,"documents":…,"views":…}}   last, so that a cut-off file is refused
// Each collection is read when its turn comes, as mongodump reads them: not a snapshot of the server.
//
// import puts such a file back: each collection and view in it replaces the one of the same name
// (dropped, then made again with its options, documents and indexes); the others are kept. Nothing is
// changed unless the file starts with the header and ends with the last line.
"use strict";

const fs = require("fs");
const { MongoClient } = require("mongodb");
const { EJSON } = require("bson");

const FORMAT = "tm351-mongodb-ejson";
const SKIPPED_DATABASES = ["admin", "config", "local"];
const WRITE_BYTES = 1 << 20;
const READ_BYTES = 1 << 20;
const BATCH_DOCUMENTS = 1000;
const BATCH_BYTES = 8 << 20;
const NAMESPACE_NOT_FOUND = 26;

function adminPassword() {
  const file = process.env.MONGODB_ADMIN_PASSWORD_FILE || "/run/secrets/mongodb_admin_password";
  return fs.readFileSync(file, "utf8").trim();
}

async function connect() {
  const client = new MongoClient("mongodb://127.0.0.1:27017/?directConnection=true&serverSelectionTimeoutMS=10000", {
    auth: { username: "tm351admin", password: adminPassword() },
    authSource: "admin",
  });
  await client.connect();
  return client;
}

function byName(a, b) {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

// system.js holds a database's stored functions; the other system collections are the server's own
// (views are kept as view entries, time series as their collections).
function exported(info) {
  return !info.name.startsWith("system.") || info.name === "system.js";
}

async function exportTo(client, file) {
  const output = fs.openSync(file, "w", 0o600);
  let pending = [];
  let pendingBytes = 0;
  const flush = () => {
    if (pending.length > 0) {
      fs.writeSync(output, pending.join(""));
      pending = [];
      pendingBytes = 0;
    }
  };
  const write = (entry) => {
    const line = EJSON.stringify(entry, { relaxed: false }) + "\n";
    pending.push(line);
    pendingBytes += line.length;
    if (pendingBytes >= WRITE_BYTES) {
      flush();
    }
  };
  const counts = { collections: 0, documents: 0, views: 0 };
  const admin = client.db("admin");
  const { version } = await admin.command({ buildInfo: 1 });
  write({ format: FORMAT, format_version: 1, server: version, created: new Date().toISOString() });
  const { databases } = await admin.command({ listDatabases: 1, nameOnly: true });
  const names = databases.map((entry) => entry.name).filter((name) => !SKIPPED_DATABASES.includes(name));
  for (const name of names.sort()) {
    const database = client.db(name);
    const infos = (await database.listCollections().toArray()).filter(exported).sort(byName);
    for (const info of infos.filter((entry) => entry.type !== "view")) {
      const collection = database.collection(info.name);
      // The _id index comes with the collection, a clustered index with its options.
      const indexes = (await collection.indexes()).filter((spec) => spec.name !== "_id_" && !spec.clustered);
      write({ collection: { db: name, name: info.name, type: info.type, options: info.options, indexes } });
      // Unpromoted values: an Int32 stays an Int32 and a Double a Double, rather than both becoming numbers.
      const cursor = collection.find({}, { promoteValues: false, bsonRegExp: true, batchSize: 1000 });
      for await (const document of cursor) {
        write({ document });
        counts.documents += 1;
      }
      counts.collections += 1;
    }
    for (const info of infos.filter((entry) => entry.type === "view")) {
      write({ view: { db: name, name: info.name, options: info.options } });
      counts.views += 1;
    }
  }
  write({ end: counts });
  flush();
  fs.closeSync(output);
}

// The file's lines, one at a time: a line is one entry, so it is never split between reads.
function lineReader(input) {
  const chunk = Buffer.alloc(READ_BYTES);
  let buffered = "";
  let ended = false;
  return () => {
    for (;;) {
      const end = buffered.indexOf("\n");
      if (end >= 0) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 1);
        return line;
      }
      if (ended) {
        const rest = buffered;
        buffered = "";
        return rest.length > 0 ? rest : null;
      }
      const read = fs.readSync(input, chunk, 0, READ_BYTES, null);
      if (read === 0) {
        ended = true;
      } else {
        buffered += chunk.toString("utf8", 0, read);
      }
    }
  };
}

function lastLine(input) {
  const size = fs.fstatSync(input).size;
  const length = Math.min(size, 1 << 16);
  const tail = Buffer.alloc(length);
  fs.readSync(input, tail, 0, length, size - length);
  const text = tail.toString("utf8").replace(/\n+$/, "");
  return text.slice(text.lastIndexOf("\n") + 1);
}

class Refused extends Error {}

function parsed(line, relaxed) {
  try {
    return EJSON.parse(line, { relaxed });
  } catch (error) {
    throw new Refused(`a line is not Extended JSON (${error.message})`);
  }
}

function writable(db) {
  if (SKIPPED_DATABASES.includes(db)) {
    throw new Refused(`it writes to the ${db} database`);
  }
  return db;
}

async function drop(database, name) {
  try {
    await database.command({ drop: name });
  } catch (error) {
    if (error.code !== NAMESPACE_NOT_FOUND) {
      throw error;
    }
  }
}

async function importFrom(client, file) {
  const input = fs.openSync(file, "r");
  const nextLine = lineReader(input);
  const header = parsed(nextLine() || "null", true);
  if (!header || header.format !== FORMAT || header.format_version !== 1) {
    throw new Refused(`it does not start with a ${FORMAT} header of format 1`);
  }
  let expected;
  try {
    expected = EJSON.parse(lastLine(input), { relaxed: true }).end;
  } catch {
    expected = undefined;
  }
  if (!expected) {
    throw new Refused("it does not end with the line that says how much it holds (it was cut off)");
  }
  const counts = { collections: 0, documents: 0, views: 0 };
  const views = [];
  let current = null;
  let batch = [];
  let batchBytes = 0;
  const insertBatch = async () => {
    if (batch.length > 0) {
      await current.collection.insertMany(batch, { ordered: true, bypassDocumentValidation: true });
      counts.documents += batch.length;
      batch = [];
      batchBytes = 0;
    }
  };
  const finishCollection = async () => {
    if (current !== null) {
      await insertBatch();
      if (current.indexes.length > 0) {
        await current.database.command({ createIndexes: current.name, indexes: current.indexes });
      }
      counts.collections += 1;
      current = null;
    }
  };
  for (let line = nextLine(); line !== null; line = nextLine()) {
    if (line.length === 0) {
      continue;
    }
    const entry = parsed(line, false);
    if (entry.document !== undefined) {
      if (current === null) {
        throw new Refused("a document comes before any collection");
      }
      batch.push(entry.document);
      batchBytes += line.length;
      if (batch.length >= BATCH_DOCUMENTS || batchBytes >= BATCH_BYTES) {
        await insertBatch();
      }
    } else if (entry.collection !== undefined) {
      await finishCollection();
      const { db, name, options, indexes } = entry.collection;
      const database = client.db(writable(db));
      await drop(database, name);
      await database.command({ create: name, ...(options || {}) });
      const specs = (indexes || []).map(({ v, ns, ...spec }) => spec);
      current = { database, name, collection: database.collection(name), indexes: specs };
    } else if (entry.view !== undefined) {
      await finishCollection();
      writable(entry.view.db);
      views.push(entry.view);
    } else if (entry.end !== undefined) {
      break;
    } else {
      throw new Refused(`an unexpected line: ${line.slice(0, 80)}`);
    }
  }
  await finishCollection();
  // Last, so that a view finds the collections of the archive it reads from.
  for (const view of views) {
    const database = client.db(view.db);
    await drop(database, view.name);
    await database.command({ create: view.name, ...view.options });
    counts.views += 1;
  }
  fs.closeSync(input);
  const promised = EJSON.stringify(expected);
  if (EJSON.stringify(counts) !== promised) {
    throw new Error(`the archive promised ${promised} but held ${EJSON.stringify(counts)}`);
  }
  return counts;
}

async function main() {
  const [command, file] = process.argv.slice(2);
  if (!["export", "import"].includes(command) || !file) {
    throw new Error("usage: node archive.js export FILE | import FILE");
  }
  const client = await connect();
  try {
    if (command === "export") {
      await exportTo(client, file);
    } else {
      const counts = await importFrom(client, file);
      console.error(
        `restored ${counts.collections} collections (${counts.documents} documents) and ${counts.views} views`,
      );
    }
  } finally {
    await client.close();
  }
}

main().catch((error) => {
  const what = error instanceof Refused ? `this is not an archive that backup.sh wrote: ${error.message}` : error.message;
  console.error(`${process.argv[2] || "archive.js"}: ${what}`);
  process.exit(1);
});
