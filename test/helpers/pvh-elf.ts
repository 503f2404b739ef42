// A hand-made PVH guest image: an ELF64 header (System V gABI "ELF Header"), one PT_LOAD with the
// code at physical ENTRY and, unless left out, one PT_NOTE holding the Xen PVH note (owner "Xen",
// type XEN_ELFNOTE_PHYS32_ENTRY = 18, a 4-byte entry address; guests/pvh-note.inc).

export const ENTRY = 0x100000;

/** A minimal PVH ELF64 image: code loaded at ENTRY, with (or without) the Xen entry note. */
export function elf(code: readonly number[], withNote = true): Uint8Array {
  const EH = 64, PH = 56, phnum = withNote ? 2 : 1;
  const noteOff = EH + PH * phnum, noteSize = 20, codeOff = 0x100;
  const b = new Uint8Array(codeOff + code.length);
  const dv = new DataView(b.buffer);
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);     // magic, ELFCLASS64, ELFDATA2LSB, EV_CURRENT
  dv.setUint16(16, 2, true);                    // e_type ET_EXEC
  dv.setUint16(18, 62, true);                   // e_machine EM_X86_64
  dv.setUint32(20, 1, true);                    // e_version
  dv.setBigUint64(24, BigInt(ENTRY), true);     // e_entry
  dv.setBigUint64(32, BigInt(EH), true);        // e_phoff
  dv.setUint16(52, EH, true);                   // e_ehsize
  dv.setUint16(54, PH, true);                   // e_phentsize
  dv.setUint16(56, phnum, true);                // e_phnum
  const ph = (i: number, type: number, flags: number, off: number, addr: number, size: number, align: number): void => {
    const o = EH + i * PH;
    dv.setUint32(o, type, true); dv.setUint32(o + 4, flags, true);
    dv.setBigUint64(o + 8, BigInt(off), true);
    dv.setBigUint64(o + 16, BigInt(addr), true); dv.setBigUint64(o + 24, BigInt(addr), true);
    dv.setBigUint64(o + 32, BigInt(size), true); dv.setBigUint64(o + 40, BigInt(size), true);
    dv.setBigUint64(o + 48, BigInt(align), true);
  };
  ph(0, 1, 5, codeOff, ENTRY, code.length, 0x1000); // PT_LOAD, R+X
  if (withNote) {
    ph(1, 4, 4, noteOff, 0, noteSize, 4);           // PT_NOTE
    dv.setUint32(noteOff, 4, true);                 // namesz ("Xen\0")
    dv.setUint32(noteOff + 4, 4, true);             // descsz
    dv.setUint32(noteOff + 8, 18, true);            // XEN_ELFNOTE_PHYS32_ENTRY
    b.set([0x58, 0x65, 0x6e, 0x00], noteOff + 12);  // "Xen\0"
    dv.setUint32(noteOff + 16, ENTRY, true);        // entry
  }
  b.set(code, codeOff);
  return b;
}
