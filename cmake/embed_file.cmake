# Script mode: cmake -DIN=<file> -DOUT=<c file> -DNAME=<symbol> -P embed_file.cmake
# Writes a C file defining `const char NAME[]` (NUL-terminated) and
# `const size_t NAME_len` with the bytes of IN.
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" hexlen)
math(EXPR len "${hexlen} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n    " bytes "${bytes}")
file(WRITE "${OUT}.tmp"
"/* Generated from ${IN} by cmake/embed_file.cmake; do not edit. */\n"
"#include <stddef.h>\n#include \"default_policy.h\"\n"
"const char ${NAME}[] = {\n    ${bytes}0x00};\n"
"const size_t ${NAME}_len = ${len};\n")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
