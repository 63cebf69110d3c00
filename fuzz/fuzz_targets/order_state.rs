#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| acmespec::fuzzing::Target::OrderState.run(data));
