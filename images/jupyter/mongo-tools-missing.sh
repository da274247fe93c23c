#!/bin/bash
# mongoimport, mongoexport, mongodump and mongorestore in this image: MongoDB's database tools have no source the
# image can be built from (they are on none of PyPI, npm and Debian's archive), so each name answers with one
# line on stderr saying so and what to use instead, and exits 127 as a missing command does.
tool=${0##*/}
echo "$tool: not installed: MongoDB's database tools are not in this image (no package registry it is built" \
    "from has them); use pymongo or mongosh instead, or install MongoDB Database Tools from" \
    "https://www.mongodb.com/try/download/database-tools" >&2
exit 127
