# Appends the rules that compile the module's C++20 sources (sourced by
# nginx's auto/make after the module Makefile is written).

nixery_cxx="c++ -std=c++20 -fPIC -fvisibility=hidden -fvisibility-inlines-hidden"
nixery_cxx="$nixery_cxx -O2 -g -Wall -Wextra -Werror -MMD -MP"
nixery_cxx="$nixery_cxx -I$ngx_addon_dir/src $NIXERY_SANITIZE_FLAGS"
nixery_objdir=$NGX_OBJS/addon/nixery
mkdir -p $nixery_objdir

nixery_objs=
for nixery_src in $ngx_addon_dir/ngx_http_nixery_module.c++ \
                  `ls $ngx_addon_dir/src/ngx/*.c++ 2>/dev/null`
do
    nixery_obj=$nixery_objdir/`basename $nixery_src .c++`.o
    nixery_objs="$nixery_objs $nixery_obj"
    cat << END                                            >> $NGX_MAKEFILE

$nixery_obj:	\$(CORE_DEPS) \$(HTTP_DEPS) $nixery_src
	$nixery_cxx \$(ALL_INCS) -c -o $nixery_obj $nixery_src

-include $nixery_objdir/`basename $nixery_src .c++`.d
END
done

cat << END                                                >> $NGX_MAKEFILE

$NIXERY_MODULE_LIB:	$nixery_objs
	rm -f $NIXERY_MODULE_LIB
	ar rcs $NIXERY_MODULE_LIB $nixery_objs

$NGX_OBJS/ngx_http_nixery_module.so:	$NIXERY_MODULE_LIB $NIXERY_CORE_LIB
END
