#![no_main]
//! See nines_driver::fuzzing::server_http for what is fed and what is checked.
libfuzzer_sys::fuzz_target!(|data: &[u8]| nines_driver::fuzzing::server_http(data));
