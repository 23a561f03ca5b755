# The rule of PR #1650: workers/network and workers/process never include each
# other's headers or link each other's library; shared/ includes neither worker
# nor service/. Two checks: link graph at configure time, includes at build time
# (target check_split, part of ALL, so a crossing include fails the build).

function(osh_assert_not_linked target forbidden)
  get_target_property(libs ${target} INTERFACE_LINK_LIBRARIES)
  get_target_property(libs2 ${target} LINK_LIBRARIES)
  foreach(l IN LISTS libs libs2)
    foreach(f IN LISTS forbidden)
      if(l STREQUAL f)
        message(FATAL_ERROR "split rule: ${target} links ${f}")
      endif()
    endforeach()
  endforeach()
endfunction()
osh_assert_not_linked(osh_network "osh_process")
osh_assert_not_linked(osh_process "osh_network")
osh_assert_not_linked(osh_shared  "osh_network;osh_process")

add_custom_target(check_split ALL
  COMMAND ${CMAKE_COMMAND} -DSRC=${CMAKE_SOURCE_DIR} -P ${CMAKE_SOURCE_DIR}/cmake/check_split_includes.cmake
  COMMENT "Checking the network/process split (includes)")
