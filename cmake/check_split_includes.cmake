# Script mode: cmake -DSRC=<source dir> -P check_split_includes.cmake
# Fails (exit 1) when an #include crosses the network/process split.
# Optional -DROOTS=<dir> checks another tree with the same layout (used by the
# test that proves this check fails on a crossing include).
if(NOT DEFINED SRC)
  message(FATAL_ERROR "SRC not set")
endif()

set(violations "")
function(scan dir regex label)
  file(GLOB_RECURSE files "${SRC}/${dir}/*.c" "${SRC}/${dir}/*.h")
  foreach(f IN LISTS files)
    file(STRINGS "${f}" lines REGEX "^[ \t]*#[ \t]*include")
    foreach(l IN LISTS lines)
      if(l MATCHES "${regex}")
        set(violations "${violations}\n  ${label}: ${f}: ${l}" PARENT_SCOPE)
      endif()
    endforeach()
  endforeach()
endfunction()

# Headers of a half are osh/network/*.h and osh/process/*.h; paths may also
# name the directories directly.
scan(workers/network "[<\"]([^>\"]*/)?(workers/process|process/)|[<\"]osh/process|[<\"]service/|[<\"](\\.\\./)+(process|service)/" "network includes process/service")
scan(workers/process "[<\"]([^>\"]*/)?(workers/network|network/)|[<\"]osh/network|[<\"]service/|[<\"](\\.\\./)+(network|service)/" "process includes network/service")
scan(shared "[<\"]([^>\"]*/)?(workers/|service/)|[<\"]osh/(network|process)/|[<\"](\\.\\./)+(workers|service)/" "shared includes a worker or service")

if(violations)
  message(FATAL_ERROR "split rule broken:${violations}")
endif()
