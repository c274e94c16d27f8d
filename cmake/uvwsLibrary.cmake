# libuvws.a and libuvws.so, made from the objects of uvws_engine and
# uvws_objects, and their installation: headers, libraries, uvws.pc and the
# CMake package (find_package(uvws) giving uvws::uvws). Included by the
# top-level CMakeLists.txt once those two object libraries are defined.

# What a program that links uvws links too: libuv, which uvws.h includes,
# for everyone; mbedTLS, zlib and hiredis only when linking statically. The
# mbedTLS libraries are imported targets so that the exported package names
# them by target, which uvwsConfig.cmake then finds on the consumer's
# machine, instead of by this machine's paths.
set(UVWS_MBEDTLS_LIBS mbedcrypto)
if(UVWS_WITH_TLS)
  set(UVWS_MBEDTLS_LIBS mbedtls mbedx509 mbedcrypto)
endif()
foreach(lib ${UVWS_MBEDTLS_LIBS})
  string(TOUPPER ${lib} var)
  if(NOT TARGET uvws::${lib})
    add_library(uvws::${lib} UNKNOWN IMPORTED)
    set_target_properties(uvws::${lib} PROPERTIES
      IMPORTED_LOCATION "${${var}_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${MBEDTLS_INCLUDE_DIR}")
  endif()
endforeach()

# hiredis for the Redis backend (UVWS_WITH_REDIS), the same way.
if(UVWS_WITH_REDIS AND NOT TARGET uvws::hiredis)
  find_library(UVWS_HIREDIS_LIBRARY hiredis HINTS ${HIREDIS_LIBRARY_DIRS})
  add_library(uvws::hiredis UNKNOWN IMPORTED)
  set_target_properties(uvws::hiredis PROPERTIES
    IMPORTED_LOCATION "${UVWS_HIREDIS_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${HIREDIS_INCLUDE_DIRS}")
endif()

set(UVWS_LIBRARY_OBJECTS
  $<TARGET_OBJECTS:uvws_engine> $<TARGET_OBJECTS:uvws_objects>)

function(uvws_library_target target kind)
  add_library(${target} ${kind} ${UVWS_LIBRARY_OBJECTS})
  set_target_properties(${target} PROPERTIES OUTPUT_NAME uvws)
  target_include_directories(${target} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_link_libraries(${target}
    PUBLIC PkgConfig::LIBUV
    PRIVATE ZLIB::ZLIB)
  foreach(lib ${UVWS_MBEDTLS_LIBS})
    target_link_libraries(${target} PRIVATE uvws::${lib})
  endforeach()
  if(UVWS_WITH_REDIS)
    target_link_libraries(${target} PRIVATE uvws::hiredis)
  endif()
endfunction()

# The static library links every program of this tree (the tests reach
# internal uvws__ functions, which the shared library hides).
uvws_library_target(uvws_static STATIC)
add_library(uvws ALIAS uvws_static)
set(UVWS_INSTALL_TARGETS uvws_static)

if(UVWS_BUILD_SHARED)
  uvws_library_target(uvws_shared SHARED)
  set_target_properties(uvws_shared PROPERTIES
    VERSION ${PROJECT_VERSION}
    SOVERSION ${PROJECT_VERSION_MAJOR})
  # Every symbol the library needs must come from the libraries it links;
  # not checked with sanitizers, whose runtimes supply symbols at run time.
  if(NOT UVWS_SANITIZE AND NOT UVWS_BUILD_FUZZ)
    target_link_options(uvws_shared PRIVATE -Wl,--no-undefined)
  endif()
  list(APPEND UVWS_INSTALL_TARGETS uvws_shared)
  # The installed package's uvws::uvws is the shared library when there is
  # one, else the static one.
  set_target_properties(uvws_shared PROPERTIES EXPORT_NAME uvws)
  set_target_properties(uvws_static PROPERTIES EXPORT_NAME uvws_static)
  add_library(uvws::uvws ALIAS uvws_shared)
else()
  set_target_properties(uvws_static PROPERTIES EXPORT_NAME uvws)
  add_library(uvws::uvws ALIAS uvws_static)
endif()
add_library(uvws::uvws_static ALIAS uvws_static)

# ---------------------------------------------------------------------------
# Installation

install(FILES include/uvws.h include/uvws_errno.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS ${UVWS_INSTALL_TARGETS} EXPORT uvwsTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

set(UVWS_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/uvws)
install(EXPORT uvwsTargets NAMESPACE uvws:: DESTINATION ${UVWS_CMAKE_DIR})

include(CMakePackageConfigHelpers)
configure_package_config_file(
  ${PROJECT_SOURCE_DIR}/cmake/uvwsConfig.cmake.in
  ${PROJECT_BINARY_DIR}/uvwsConfig.cmake
  INSTALL_DESTINATION ${UVWS_CMAKE_DIR})
# SameMajorVersion, as the SONAME (libuvws.so.MAJOR) promises.
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/uvwsConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/uvwsConfig.cmake
              ${PROJECT_BINARY_DIR}/uvwsConfigVersion.cmake
        DESTINATION ${UVWS_CMAKE_DIR})

# uvws.pc. Its prefix is the one given at install time (cmake --install
# --prefix DIR), not the one configured: the file is made in two passes,
# the second one by the install script, where CMAKE_INSTALL_PREFIX is the
# prefix actually used.
set(UVWS_PC_LIBS_PRIVATE "")
foreach(lib ${UVWS_MBEDTLS_LIBS} z)
  string(APPEND UVWS_PC_LIBS_PRIVATE " -l${lib}")
endforeach()
if(UVWS_WITH_REDIS)
  string(APPEND UVWS_PC_LIBS_PRIVATE " -lhiredis")
endif()
string(STRIP "${UVWS_PC_LIBS_PRIVATE}" UVWS_PC_LIBS_PRIVATE)
foreach(dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${dir}}")
    set(UVWS_PC_${dir} "${CMAKE_INSTALL_${dir}}")
  else()
    set(UVWS_PC_${dir} "\${prefix}/${CMAKE_INSTALL_${dir}}")
  endif()
endforeach()
set(CMAKE_INSTALL_PREFIX_AT_INSTALL "@CMAKE_INSTALL_PREFIX@")
configure_file(${PROJECT_SOURCE_DIR}/cmake/uvws.pc.in
               ${PROJECT_BINARY_DIR}/uvws.pc.in @ONLY)
install(CODE "configure_file(\"${PROJECT_BINARY_DIR}/uvws.pc.in\"
  \"${PROJECT_BINARY_DIR}/uvws.pc\" @ONLY)")
install(FILES ${PROJECT_BINARY_DIR}/uvws.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
