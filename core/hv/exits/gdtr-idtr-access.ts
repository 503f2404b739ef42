/**
 * Exit reason 46, access to GDTR or IDTR (LGDT, LIDT, SGDT, SIDT; reason 47,
 * LDTR or TR, is ldtr-tr-access.ts), caused by the "descriptor-
 * table exiting" secondary control (SDM Vol. 3C 26.1.3). The exit
 * information names the instruction (bits 29:28 of the instruction
 * information, Tables 28-10 and 28-11) and its operand (displacement in the
 * exit qualification, registers in the instruction information).
 *
 * This hypervisor does not set the control; a configuration that does (to
 * watch a guest's descriptor tables) gets the instruction performed as if it
 * had not exited: Machine.stepGuestInstruction lets the processor execute it
 * once with the control off and an MTF VM exit right after, so every
 * architectural check, fault and memory access is the silicon's own. The
 * operand is logged in the exit event already (qualification, information).
 */
import type { Machine, Stop } from '../machine.js';
import { PROC_BASED2 } from '../../vmx/capabilities.js';

export function gdtrIdtrAccess(m: Machine): Stop | void {
  m.stepGuestInstruction(PROC_BASED2.DESCRIPTOR_TABLE_EXITING);
}
