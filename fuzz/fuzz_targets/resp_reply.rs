#![no_main]
//! See nines_driver::fuzzing::resp_reply for what is fed and what is checked.
libfuzzer_sys::fuzz_target!(|data: &[u8]| nines_driver::fuzzing::resp_reply(data));
