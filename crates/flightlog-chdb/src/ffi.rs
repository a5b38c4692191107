//! The handful of `chdb_*` functions Flightlog uses, resolved by name from
//! the loaded library. Signatures follow `programs/local/chdb.h` of chDB
//! 26.x; no registry ships that header, so they are declared here.

use std::ffi::{c_char, c_int, c_void};
use std::path::Path;

#[repr(C)]
pub struct ConnectionStruct {
    _internal: *mut c_void,
}
/// `chdb_connection` is a pointer to the opaque struct; `chdb_connect`
/// returns a pointer to that pointer.
pub type ConnectionHandle = *mut ConnectionStruct;

#[repr(C)]
pub struct ResultHandle {
    _internal: *mut c_void,
}

#[repr(C)]
pub struct InsertStruct {
    _internal: *mut c_void,
}
pub type InsertHandle = InsertStruct;

type Conn = *mut ConnectionStruct;

pub struct Api {
    _lib: libloading::Library,
    pub version: unsafe extern "C" fn() -> *const c_char,
    pub set_signal_handlers_enabled: unsafe extern "C" fn(c_int),
    pub connect: unsafe extern "C" fn(c_int, *mut *mut c_char) -> *mut ConnectionHandle,
    pub close_conn: unsafe extern "C" fn(*mut ConnectionHandle),
    pub query_n: unsafe extern "C" fn(Conn, *const c_char, usize, *const c_char, usize) -> *mut ResultHandle,
    #[allow(clippy::type_complexity)]
    pub query_with_params_n: unsafe extern "C" fn(
        Conn,
        *const c_char,
        usize,
        *const c_char,
        usize,
        *const *const c_char,
        *const usize,
        *const *const c_char,
        *const usize,
        usize,
    ) -> *mut ResultHandle,
    pub result_buffer: unsafe extern "C" fn(*mut ResultHandle) -> *mut c_char,
    pub result_length: unsafe extern "C" fn(*mut ResultHandle) -> usize,
    pub result_rows_written: unsafe extern "C" fn(*mut ResultHandle) -> u64,
    pub result_error: unsafe extern "C" fn(*mut ResultHandle) -> *const c_char,
    pub destroy_query_result: unsafe extern "C" fn(*mut ResultHandle),
    pub stream_insert_n: unsafe extern "C" fn(Conn, *const c_char, usize, *const c_char, usize) -> *mut InsertHandle,
    pub stream_append: unsafe extern "C" fn(*mut InsertHandle, *const c_void, usize) -> c_int,
    pub stream_done: unsafe extern "C" fn(*mut InsertHandle) -> *mut ResultHandle,
    pub stream_insert_error: unsafe extern "C" fn(*mut InsertHandle) -> *const c_char,
    pub destroy_insert_stream: unsafe extern "C" fn(*mut InsertHandle),
}

impl Api {
    pub fn load(path: &Path) -> Result<Self, libloading::Error> {
        unsafe {
            let lib = libloading::Library::new(path)?;
            macro_rules! sym {
                ($name:literal) => {
                    *lib.get($name)?
                };
            }
            Ok(Self {
                version: sym!(b"chdb_version\0"),
                set_signal_handlers_enabled: sym!(b"chdb_set_signal_handlers_enabled\0"),
                connect: sym!(b"chdb_connect\0"),
                close_conn: sym!(b"chdb_close_conn\0"),
                query_n: sym!(b"chdb_query_n\0"),
                query_with_params_n: sym!(b"chdb_query_with_params_n\0"),
                result_buffer: sym!(b"chdb_result_buffer\0"),
                result_length: sym!(b"chdb_result_length\0"),
                result_rows_written: sym!(b"chdb_result_rows_written\0"),
                result_error: sym!(b"chdb_result_error\0"),
                destroy_query_result: sym!(b"chdb_destroy_query_result\0"),
                stream_insert_n: sym!(b"chdb_stream_insert_n\0"),
                stream_append: sym!(b"chdb_stream_append\0"),
                stream_done: sym!(b"chdb_stream_done\0"),
                stream_insert_error: sym!(b"chdb_stream_insert_error\0"),
                destroy_insert_stream: sym!(b"chdb_destroy_insert_stream\0"),
                _lib: lib,
            })
        }
    }
}
