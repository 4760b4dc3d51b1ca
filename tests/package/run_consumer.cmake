# Builds and runs tests/package/consumer against xloss, either by
# add_subdirectory of the source tree or by find_package of a staged install.
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

function(run)
  execute_process(COMMAND ${ARGV} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGV}")
  endif()
endfunction()

if(MODE STREQUAL "find_package")
  run(${CMAKE_COMMAND} -S ${XLOSS_SOURCE_DIR} -B ${WORK_DIR}/xloss-build
      -DXLOSS_BUILD_TESTS=OFF -DXLOSS_BUILD_EXAMPLES=OFF -DCMAKE_INSTALL_PREFIX=${WORK_DIR}/staged)
  run(${CMAKE_COMMAND} --install ${WORK_DIR}/xloss-build)
  set(consumer_args -DXLOSS_CONSUMER_MODE=find_package -DCMAKE_PREFIX_PATH=${WORK_DIR}/staged)
else()
  set(consumer_args -DXLOSS_CONSUMER_MODE=add_subdirectory -DXLOSS_SOURCE_DIR=${XLOSS_SOURCE_DIR})
endif()
run(${CMAKE_COMMAND} -S ${CONSUMER_DIR} -B ${WORK_DIR}/consumer-build -DCMAKE_CXX_COMPILER=${CMAKE_CXX_COMPILER}
    ${consumer_args})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/consumer-build)
run(${WORK_DIR}/consumer-build/consumer)
