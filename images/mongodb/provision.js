// Run by start.sh at every start, with mongosh, on a private server without access control. start.sh
// puts `const password = "…", adminPassword = "…";` (from the secrets) before this text.
// Users are created if missing, and otherwise given the secrets' passwords (and these roles) again,
// so a rotated secret takes effect at the next start.
function ensureUser(database, name, pwd, roles) {
  const target = db.getSiblingDB(database);
  if (target.getUser(name) === null) {
    target.createUser({ user: name, pwd: pwd, roles: roles });
    print(`provision.js: created user ${name} (authentication database ${database})`);
  } else {
    target.updateUser(name, { pwd: pwd, roles: roles });
    print(`provision.js: set the password of ${name} (authentication database ${database})`);
  }
}

ensureUser("admin", "tm351admin", adminPassword, [{ role: "root", db: "admin" }]);
ensureUser("tm351", "tm351", password, [
  { role: "readWrite", db: "tm351" },
  { role: "readWriteAnyDatabase", db: "admin" },
]);
