# shellcheck shell=bash
# Sourced by restore.sh and course-data.sh: the course's logins and their published passwords (init.sql makes
# them). What a backup or the course data runs in a database runs as its owner when that is one of them.
# shellcheck disable=SC2034  # for the scripts that source this file
declare -A course_password=([tm351]=tm351 [testuser]=testpass [tm351_student]=tm351_pwd [tm351admin]=tm351admin)
