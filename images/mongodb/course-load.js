// mongosh --file course-load.js, with TM351_DB, TM351_COLLECTION and TM351_FILE set: load one course dataset
// (one document per line, Extended JSON as mongoexport writes it) into TM351_DB.TM351_COLLECTION, for
// course-data.sh. A collection of that name that is there already (a student's) is left as it is. The documents
// go into a staging collection first, renamed into place only once every one is in: a file that fails leaves
// nothing behind. Prints "loaded N" or "kept", and exits 1 with the reason on failure.
"use strict";

const fs = require("fs");

const STAGING = "tm351_loading_";
const READ_BYTES = 1 << 20;
const BATCH_DOCUMENTS = 1000;
const BATCH_BYTES = 4 << 20;

const name = process.env.TM351_COLLECTION;
const database = db.getSiblingDB(process.env.TM351_DB);
const staging = STAGING + name;

function lines(file, each) {
  const input = fs.openSync(file, "r");
  const chunk = Buffer.alloc(READ_BYTES);
  let buffered = "";
  let number = 0;
  for (;;) {
    const read = fs.readSync(input, chunk, 0, READ_BYTES, null);
    buffered += read > 0 ? chunk.toString("utf8", 0, read) : "\n";
    let end;
    while ((end = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, end).trim();
      buffered = buffered.slice(end + 1);
      number += 1;
      if (line.length > 0) {
        each(line, number);
      }
    }
    if (read === 0) {
      break;
    }
  }
  fs.closeSync(input);
}

if (database.getCollectionNames().includes(name)) {
  print("kept");
} else {
  database.getCollection(staging).drop();
  let batch = [];
  let bytes = 0;
  let count = 0;
  const insert = () => {
    if (batch.length > 0) {
      database.getCollection(staging).insertMany(batch, { ordered: true });
      count += batch.length;
      batch = [];
      bytes = 0;
    }
  };
  try {
    lines(process.env.TM351_FILE, (line, number) => {
      let document;
      try {
        document = EJSON.parse(line, { relaxed: true });
      } catch (error) {
        throw new Error(`line ${number} is not Extended JSON (${error.message})`);
      }
      if (document === null || typeof document !== "object" || Array.isArray(document)) {
        throw new Error(`line ${number} is not one document`);
      }
      batch.push(document);
      bytes += line.length;
      if (batch.length >= BATCH_DOCUMENTS || bytes >= BATCH_BYTES) {
        insert();
      }
    });
    insert();
    if (count === 0) {
      database.createCollection(staging);
    }
    database.adminCommand({
      renameCollection: `${database.getName()}.${staging}`,
      to: `${database.getName()}.${name}`,
      dropTarget: false,
    });
  } catch (error) {
    database.getCollection(staging).drop();
    print(`failed: ${error.message}`);
    quit(1);
  }
  print(`loaded ${count}`);
}
