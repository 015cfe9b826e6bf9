#!/usr/bin/env bash
# Prints the home of a JDK >= 25: JAVA_HOME if it is one, else the newest such JDK under /usr/lib/jvm.
# Exits 1 with a message that says what to install when there is none.
required=25

jdk_feature() { # prints the feature version of the JDK at $1, or nothing
  local rel="$1/release"
  [ -x "$1/bin/javac" ] || return 0
  if [ -f "$rel" ]; then
    sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$rel"
  else
    "$1/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1
  fi
}

if [ -n "${JAVA_HOME:-}" ]; then
  v=$(jdk_feature "$JAVA_HOME")
  if [ -n "$v" ] && [ "$v" -ge "$required" ]; then echo "$JAVA_HOME"; exit 0; fi
fi
best=""; bestv=0
for d in /usr/lib/jvm/* /usr/local/lib/jvm/* /opt/java/* /opt/jdk*; do
  [ -d "$d" ] || continue
  v=$(jdk_feature "$d")
  if [ -n "$v" ] && [ "$v" -ge "$required" ] && [ "$v" -gt "$bestv" ]; then best="$d"; bestv="$v"; fi
done
if [ -n "$best" ]; then echo "$best"; exit 0; fi
echo "sluice: no JDK $required or newer found (looked at JAVA_HOME and /usr/lib/jvm)." >&2
echo "sluice: install one, for example 'apt-get install temurin-25-jdk' or a JDK 25 from your vendor, then run again." >&2
exit 1
