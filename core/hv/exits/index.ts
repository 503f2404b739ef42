/**
 * One handler per basic exit reason (SDM Vol. 3D, Appendix C). A handler
 * reads what it needs with VMREAD, performs the emulation, updates guest
 * state with VMWRITE and returns nothing to resume the guest, or a Stop.
 */
import type { Machine, Stop } from '../machine.js';
import { EXIT_REASON } from '../../vmx/exit-reasons.js';
import { externalInterrupt } from './external-interrupt.js';
import { tripleFault } from './triple-fault.js';
import { cpuidExit } from './cpuid.js';
import { hltExit } from './hlt.js';
import { ioInstruction } from './io-instruction.js';
import { rdmsrExit } from './rdmsr.js';
import { wrmsrExit } from './wrmsr.js';
import { crAccess } from './cr-access.js';
import { eptViolation, eptMisconfiguration } from './ept-violation.js';
import { interruptWindow } from './interrupt-window.js';
import { vmcallExit } from './vmcall.js';
import { xsetbvExit } from './xsetbv.js';
import { nmiWindow } from './nmi-window.js';
import { exceptionOrNmi } from './exception-or-nmi.js';
import { monitorTrapFlag } from './monitor-trap-flag.js';
import { gdtrIdtrAccess } from './gdtr-idtr-access.js';
import { ldtrTrAccess } from './ldtr-tr-access.js';

export type ExitHandler = (m: Machine) => Stop | void;

export const EXIT_HANDLERS: (ExitHandler | undefined)[] = [];
EXIT_HANDLERS[EXIT_REASON.EXCEPTION_OR_NMI] = exceptionOrNmi;
EXIT_HANDLERS[EXIT_REASON.EXTERNAL_INTERRUPT] = externalInterrupt;
EXIT_HANDLERS[EXIT_REASON.TRIPLE_FAULT] = tripleFault;
EXIT_HANDLERS[EXIT_REASON.CPUID] = cpuidExit;
EXIT_HANDLERS[EXIT_REASON.HLT] = hltExit;
EXIT_HANDLERS[EXIT_REASON.IO_INSTRUCTION] = ioInstruction;
EXIT_HANDLERS[EXIT_REASON.RDMSR] = rdmsrExit;
EXIT_HANDLERS[EXIT_REASON.WRMSR] = wrmsrExit;
EXIT_HANDLERS[EXIT_REASON.CONTROL_REGISTER_ACCESS] = crAccess;
EXIT_HANDLERS[EXIT_REASON.EPT_VIOLATION] = eptViolation;
EXIT_HANDLERS[EXIT_REASON.EPT_MISCONFIGURATION] = eptMisconfiguration;
EXIT_HANDLERS[EXIT_REASON.INTERRUPT_WINDOW] = interruptWindow;
EXIT_HANDLERS[EXIT_REASON.NMI_WINDOW] = nmiWindow;
EXIT_HANDLERS[EXIT_REASON.MONITOR_TRAP_FLAG] = monitorTrapFlag;
EXIT_HANDLERS[EXIT_REASON.GDTR_IDTR_ACCESS] = gdtrIdtrAccess;
EXIT_HANDLERS[EXIT_REASON.LDTR_TR_ACCESS] = ldtrTrAccess;
EXIT_HANDLERS[EXIT_REASON.VMCALL] = vmcallExit;
EXIT_HANDLERS[EXIT_REASON.XSETBV] = xsetbvExit;
