// node archive.js export FILE | import FILE: the backup of the image built from PyPI and npm, which has
// no mongodump, run by backup.sh and restore.sh (as root, which owns the scratch volume) with
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
// import puts such a file back: each collection and view in it replaces the one of the same name; the
// others are kept. The whole file is read first, and nothing is changed unless it starts with the header,
// every line in between is one export writes, and the last line's counts are what it holds. Then each
// collection is made beside the one it replaces, as STAGING + its name (options, documents, then indexes),
// and only once every one of them is in are they renamed over the ones they replace (renameCollection
// with dropTarget: the old one goes in the same step). A failure before that (a document the server
// refuses, a full disk) drops what was staged and leaves every collection as it was. Time series (which
// cannot be renamed), system.js (which cannot be dropped) and views (which hold no data) are made last,
// in place. A staging collection that an interrupted import left behind is dropped at the next.
"use strict";

const fs = require("fs");
const { MongoClient } = require("mongodb");
const { EJSON } = require("bson");

const FORMAT = "tm351-mongodb-ejson";
const SKIPPED_DATABASES = ["admin", "config", "local"];
const WRITE_BYTES = 1 << 20;
const READ_BYTES = 1 << 20;
const SYNC_BYTES = 8 << 20;
const BATCH_DOCUMENTS = 1000;
// What a cursor's batch or an insert may hold at once: the server sends up to 16 MiB in a batch, which with
// documents of a MiB each took this client (beside mongod, under the app's memory limit) over it.
const BATCH_BYTES = 4 << 20;
const NAMESPACE_NOT_FOUND = 26;
const STAGING = "tm351_restoring_";

async function connect() {
  const client = new MongoClient("mongodb://127.0.0.1:27017/?directConnection=true&serverSelectionTimeoutMS=10000");
  await client.connect();
  return client;
}

function byName(a, b) {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

// system.js holds a database's stored functions; the other system collections are the server's own
// (views are kept as view entries, time series as their collections).
function exported(info) {
  return (!info.name.startsWith("system.") || info.name === "system.js") && !info.name.startsWith(STAGING);
}

// As many documents of the collection's average size as BATCH_BYTES holds (at least one).
async function documentsPerBatch(collection) {
  try {
    const [stats] = await collection.aggregate([{ $collStats: { storageStats: {} } }]).toArray();
    const size = stats?.storageStats?.avgObjSize;
    return size > 0 ? Math.max(1, Math.min(BATCH_DOCUMENTS, Math.floor(BATCH_BYTES / size))) : BATCH_DOCUMENTS;
  } catch {
    return BATCH_DOCUMENTS; // a kind of collection that has no storage statistics
  }
}

async function exportTo(client, file) {
  const output = fs.openSync(file, "w", 0o600);
  let pending = [];
  let pendingBytes = 0;
  let unsynced = 0;
  const flush = () => {
    if (pending.length > 0) {
      fs.writeSync(output, pending.join(""));
      unsynced += pendingBytes;
      pending = [];
      pendingBytes = 0;
    }
    // Written pages count in the app's memory until they reach the disk, and the kernel may not write them out
    // before the limit is reached: on disk, they are cache it can drop.
    if (unsynced >= SYNC_BYTES) {
      fs.fdatasyncSync(output);
      unsynced = 0;
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
      const batchSize = await documentsPerBatch(collection);
      const cursor = collection.find({}, { promoteValues: false, bsonRegExp: true, batchSize });
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

class Refused extends Error {}

function parsed(line, relaxed) {
  try {
    return EJSON.parse(line, { relaxed });
  } catch (error) {
    throw new Refused(`a line is not Extended JSON (${error.message})`);
  }
}

function namespace(item) {
  return `${item.db}.${item.name}`;
}

// A collection or view of a database the import may write, under a name export writes.
function writable(item) {
  if (typeof item.db !== "string" || typeof item.name !== "string") {
    throw new Refused("a collection or view has no database or no name");
  }
  if (SKIPPED_DATABASES.includes(item.db)) {
    throw new Refused(`it writes to the ${item.db} database`);
  }
  if (item.name.startsWith(STAGING) || (item.name.startsWith("system.") && item.name !== "system.js")) {
    throw new Refused(`it writes to ${namespace(item)}, which is not a collection export writes`);
  }
  return item;
}

const CUT_OFF = "it does not end with the line that says how much it holds (it was cut off)";

// Every entry of the file after its header, parsed, with its line. A last line that does not parse is
// one cut off.
function* entries(file) {
  const input = fs.openSync(file, "r");
  try {
    const nextLine = lineReader(input);
    const header = parsed(nextLine() || "null", true);
    if (!header || header.format !== FORMAT || header.format_version !== 1) {
      throw new Refused(`it does not start with a ${FORMAT} header of format 1`);
    }
    for (let line = nextLine(), following = nextLine(); line !== null; line = following, following = nextLine()) {
      if (line.length > 0) {
        let entry;
        try {
          entry = parsed(line, false);
        } catch (error) {
          throw following === null ? new Refused(CUT_OFF) : error;
        }
        yield { entry, line };
      }
    }
  } finally {
    fs.closeSync(input);
  }
}

// The first reading, which writes nothing: the whole file checked, its collections and views listed.
function checked(file) {
  const counts = { collections: 0, documents: 0, views: 0 };
  const seen = new Set();
  const collections = [];
  const views = [];
  let inCollection = false;
  let end = null;
  for (const { entry, line } of entries(file)) {
    if (end !== null) {
      throw new Refused("a line comes after the last one");
    }
    if (entry.document !== undefined) {
      if (!inCollection) {
        throw new Refused("a document comes before any collection");
      }
      counts.documents += 1;
    } else if (entry.collection !== undefined || entry.view !== undefined) {
      const item = writable(entry.collection || entry.view);
      if (seen.has(namespace(item))) {
        throw new Refused(`it holds ${namespace(item)} twice`);
      }
      seen.add(namespace(item));
      inCollection = entry.collection !== undefined;
      if (inCollection) {
        collections.push({ db: item.db, name: item.name, inPlace: !renamable(item) });
        counts.collections += 1;
      } else {
        views.push(item);
        counts.views += 1;
      }
    } else if (entry.end !== undefined) {
      end = entry.end;
    } else {
      throw new Refused(`an unexpected line: ${line.slice(0, 80)}`);
    }
  }
  if (end === null) {
    throw new Refused(CUT_OFF);
  }
  const promised = EJSON.stringify(end);
  if (EJSON.stringify(counts) !== promised) {
    throw new Refused(`it promises ${promised} but holds ${EJSON.stringify(counts)}`);
  }
  return { collections, views, counts };
}

// A time series cannot be renamed, and system.js cannot be dropped, which renaming over it would do.
function renamable(collection) {
  return collection.type !== "timeseries" && collection.name !== "system.js";
}

// The collection made again, empty: dropped and created, or, for system.js, emptied.
async function remade(database, name, options) {
  const [found] = await database.listCollections({ name }, { nameOnly: true }).toArray();
  if (name === "system.js" && found && found.type === "collection") {
    await database.collection(name).deleteMany({});
  } else {
    await drop(database, name);
    await database.command({ create: name, ...(options || {}) });
  }
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

async function dropStaging(client) {
  const { databases } = await client.db("admin").command({ listDatabases: 1, nameOnly: true });
  for (const { name } of databases.filter((entry) => !SKIPPED_DATABASES.includes(entry.name))) {
    const database = client.db(name);
    const filter = { name: { $regex: `^${STAGING}` } };
    for (const leftover of await database.listCollections(filter, { nameOnly: true }).toArray()) {
      await drop(database, leftover.name);
    }
  }
}

// A reading that makes collections: each one that target names a collection for (null: not this time) is
// made there, with its options, documents and indexes.
async function writeCollections(client, file, target) {
  let current = null;
  let batch = [];
  let batchBytes = 0;
  const insertBatch = async () => {
    if (batch.length > 0) {
      await current.collection.insertMany(batch, { ordered: true, bypassDocumentValidation: true });
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
      current = null;
    }
  };
  for (const { entry, line } of entries(file)) {
    if (entry.document !== undefined) {
      if (current !== null) {
        batch.push(entry.document);
        batchBytes += line.length;
        if (batch.length >= BATCH_DOCUMENTS || batchBytes >= BATCH_BYTES) {
          await insertBatch();
        }
      }
    } else if (entry.collection !== undefined || entry.view !== undefined) {
      await finishCollection();
      const name = entry.collection ? target(entry.collection) : null;
      if (name !== null) {
        const { db, options, indexes } = entry.collection;
        const database = client.db(db);
        await remade(database, name, options);
        const specs = (indexes || []).map(({ v, ns, ...spec }) => spec);
        current = { database, name, collection: database.collection(name), indexes: specs };
      }
    }
  }
  await finishCollection();
}

// A collection takes the place of a view of its name by a rename only once the view is gone.
async function dropView(database, name) {
  const [found] = await database.listCollections({ name }, { nameOnly: true }).toArray();
  if (found && found.type === "view") {
    await drop(database, name);
  }
}

async function importFrom(client, file) {
  const { collections, views, counts } = checked(file);
  await dropStaging(client);
  const staged = collections.filter((collection) => !collection.inPlace);
  const stagedNames = new Set(staged.map(namespace));
  try {
    await writeCollections(client, file, (item) => (stagedNames.has(namespace(item)) ? STAGING + item.name : null));
  } catch (error) {
    await dropStaging(client);
    throw new Error(`${error.message}; every collection is as it was`);
  }
  const admin = client.db("admin");
  for (const { db, name } of staged) {
    await dropView(client.db(db), name);
    await admin.command({ renameCollection: `${db}.${STAGING}${name}`, to: `${db}.${name}`, dropTarget: true });
  }
  const inPlace = new Set(collections.filter((collection) => collection.inPlace).map(namespace));
  if (inPlace.size > 0) {
    await writeCollections(client, file, (item) => (inPlace.has(namespace(item)) ? item.name : null));
  }
  // Last, so that a view finds the collections of the archive it reads from.
  for (const view of views) {
    const database = client.db(view.db);
    await drop(database, view.name);
    await database.command({ create: view.name, ...view.options });
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
