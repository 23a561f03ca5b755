# OSH_SANITIZE=address -> ASan + UBSan (abort on the first report);
# OSH_SANITIZE=thread  -> TSan. Both keep frame pointers for readable stacks.
if(OSH_SANITIZE STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
elseif(OSH_SANITIZE STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
elseif(NOT OSH_SANITIZE STREQUAL "")
  message(FATAL_ERROR "OSH_SANITIZE must be empty, 'address' or 'thread'")
endif()
