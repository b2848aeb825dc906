#![no_main]
//! See nines_driver::fuzzing::http_response for what is fed and what is checked.
libfuzzer_sys::fuzz_target!(|data: &[u8]| nines_driver::fuzzing::http_response(data));
