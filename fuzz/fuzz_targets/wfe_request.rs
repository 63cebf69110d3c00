#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| acmespec::fuzzing::Target::WfeRequest.run(data));
