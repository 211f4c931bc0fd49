#!/bin/bash
# Fails when an #include crosses a room the wrong way (docs/architecture.md,
# "Rooms"). A room may include itself and the rooms listed after its name;
# the core (src/) is included by bare file name and includes nothing but
# itself; only the module file and src/ngx/ see nginx's glue.
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A may=(
    [cmd]="queue nix image storage base"
    [queue]="nix image storage base"
    [nix]="base"
    [image]="storage base"
    [storage]="base"
    [base]=""
    [tests]="cmd queue nix image storage base"
)

bad=0
complain() {
    echo "check-rooms: $*" >&2
    bad=1
}

# The core: bare names of core headers, or ngx/ from the glue.
while IFS=: read -r file _ target; do
    case "$file" in
    src/ngx/*) [[ $target == ngx/* && -f src/$target ]] && continue ;;
    esac
    [[ $target != */* && -f src/$target ]] && continue
    [[ $file == src/tests/* && -f src/tests/$target ]] && continue
    complain "$file includes \"$target\": the core includes only the core"
done < <(git grep -n -o -E '^#include "[^"]+"' -- 'src/*.c++' 'src/*.h' |
    sed -E 's/#include "([^"]+)"/\1/')

# The helper's rooms.
while IFS=: read -r file _ target; do
    room=${file#helper/}
    room=${room%%/*}
    if [[ -z ${may[$room]+set} ]]; then
        complain "$file is in no room (helper/<room>/...)"
        continue
    fi
    if [[ $target != */* ]]; then
        # A bare name is a core header (or a test's own helper).
        [[ -f src/$target ]] && continue
        [[ $room == tests && -f helper/tests/$target ]] && continue
        complain "$file includes \"$target\": name its room"
        continue
    fi
    to=${target%%/*}
    [[ -f helper/$target ]] || complain "$file includes \"$target\": no such file"
    [[ $to == "$room" ]] && continue
    [[ " ${may[$room]} " == *" $to "* ]] && continue
    complain "$file includes \"$target\": $room may include only itself," \
        "${may[$room]:+${may[$room]} and }the core"
done < <(git grep -n -o -E '^#include "[^"]+"' -- 'helper/*.c++' 'helper/*.h' |
    sed -E 's/#include "([^"]+)"/\1/')

exit $bad
