//! Big-endian field writers, the mirror of [`super::reader::Reader`].

use byteorder::{BigEndian, WriteBytesExt};

pub trait WriteExt {
    fn put_u8(&mut self, v: u8);
    fn put_u16(&mut self, v: u16);
    fn put_u32(&mut self, v: u32);
    fn put_u64(&mut self, v: u64);
    fn put_u128(&mut self, v: u128);
    fn put_bool(&mut self, v: bool);
    /// u32 length, then the bytes.
    fn put_bytes(&mut self, v: &[u8]);
    /// u32 length, then the UTF-8 bytes.
    fn put_string(&mut self, v: &str);
    /// u32 element count.
    fn put_count(&mut self, n: usize);
}

// Writing into a Vec cannot fail, so the io::Result of byteorder is dropped.
impl WriteExt for Vec<u8> {
    fn put_u8(&mut self, v: u8) {
        self.push(v);
    }
    fn put_u16(&mut self, v: u16) {
        let _ = self.write_u16::<BigEndian>(v);
    }
    fn put_u32(&mut self, v: u32) {
        let _ = self.write_u32::<BigEndian>(v);
    }
    fn put_u64(&mut self, v: u64) {
        let _ = self.write_u64::<BigEndian>(v);
    }
    fn put_u128(&mut self, v: u128) {
        let _ = self.write_u128::<BigEndian>(v);
    }
    fn put_bool(&mut self, v: bool) {
        self.push(u8::from(v));
    }
    fn put_bytes(&mut self, v: &[u8]) {
        let len = u32::try_from(v.len()).expect("field longer than u32::MAX bytes");
        self.put_u32(len);
        self.extend_from_slice(v);
    }
    fn put_string(&mut self, v: &str) {
        self.put_bytes(v.as_bytes());
    }
    fn put_count(&mut self, n: usize) {
        let n = u32::try_from(n).expect("more than u32::MAX elements");
        self.put_u32(n);
    }
}
