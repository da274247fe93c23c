-- Run by start.sh at every start, as the superuser postgres on a private socket, before the server
-- takes connections. Idempotent: makes what is missing and sets every password again, so a rotated
-- secret takes effect at the next start; it never changes what is in a database it did not just make.
-- start.sh defines :password (the install's own, from its secret) with a \set line on psql's standard
-- input, never on a command line; nothing here may print or log it.
--
-- The course's logins, with the passwords its published notebooks use: they work only from inside the
-- stack (pg_hba.conf refuses them at the door --expose-db publishes), where course notebooks connect.
--   tm351 / tm351            owns tm351
--   tm351admin / tm351admin  makes databases and roles (the course's is a superuser: see README.md)
--   testuser / testpass      owns testdb, with the installation test's quickdemo table
--   tm351_student / tm351_pwd  owns tm351_clean and tm351_hospital
-- The install's own login, student, with the install's password: what --expose-db lets in. It has the
-- privileges of every course login (it is a member of each), so it sees what they made.
\set ON_ERROR_STOP on
\set VERBOSITY terse
\set SHOW_CONTEXT never
SET log_statement = 'none';
SET log_min_duration_statement = -1;
SET log_min_duration_sample = -1;
SET log_min_error_statement = panic;
SET client_min_messages = warning;

SELECT format('CREATE ROLE %I', name)
  FROM unnest(ARRAY['tm351', 'tm351admin', 'testuser', 'tm351_student', 'student']) AS name
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = name) \gexec

ALTER ROLE tm351 WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD 'tm351';
ALTER ROLE tm351admin WITH LOGIN NOSUPERUSER CREATEDB CREATEROLE PASSWORD 'tm351admin';
ALTER ROLE testuser WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD 'testpass';
ALTER ROLE tm351_student WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD 'tm351_pwd';
ALTER ROLE student WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'password';
GRANT tm351, testuser, tm351_student TO student;

SELECT format('CREATE DATABASE %I OWNER %I', datname, owner)
  FROM (VALUES ('tm351', 'tm351'), ('testdb', 'testuser'), ('tm351_clean', 'tm351_student'),
               ('tm351_hospital', 'tm351_student')) AS course (datname, owner)
 WHERE NOT EXISTS (SELECT FROM pg_database AS existing WHERE existing.datname = course.datname) \gexec

-- The installation test's table, made once (its owner's to change, or drop, from then on): the database's
-- comment records that it was.
\connect testdb
SET client_min_messages = warning;
SELECT shobj_description(oid, 'pg_database') IS DISTINCT FROM 'quickdemo made' AS quickdemo_to_make
  FROM pg_database WHERE datname = 'testdb' \gset
\if :quickdemo_to_make
BEGIN;
SET LOCAL ROLE testuser;
CREATE TABLE IF NOT EXISTS quickdemo (id int, name varchar(20), value int);
INSERT INTO quickdemo SELECT * FROM (VALUES (1, 'This', 12), (2, 'That', 345)) AS rows
 WHERE NOT EXISTS (SELECT FROM quickdemo);
COMMIT;
COMMENT ON DATABASE testdb IS 'quickdemo made';
\endif
