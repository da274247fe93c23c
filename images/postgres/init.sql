-- Run by start.sh at every start, as the superuser postgres on a private socket, before the server
-- takes connections. Idempotent: makes the roles and the database when missing and sets both
-- passwords from the secret files, so a rotated secret takes effect at the next start.
-- start.sh defines :admin_password and :password with \set lines on psql's standard input, never
-- on a command line; nothing here may print or log them.
\set ON_ERROR_STOP on
\set VERBOSITY terse
\set SHOW_CONTEXT never
SET log_statement = 'none';
SET log_min_duration_statement = -1;
SET log_min_duration_sample = -1;
SET log_min_error_statement = panic;

SELECT 'CREATE ROLE tm351admin'
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tm351admin') \gexec
SELECT 'CREATE ROLE tm351'
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tm351') \gexec

ALTER ROLE tm351admin WITH LOGIN CREATEDB CREATEROLE NOSUPERUSER PASSWORD :'admin_password';
ALTER ROLE tm351 WITH LOGIN NOSUPERUSER PASSWORD :'password';

SELECT 'CREATE DATABASE tm351 OWNER tm351'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'tm351') \gexec
