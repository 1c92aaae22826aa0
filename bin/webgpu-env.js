// The environment Dawn (the `webgpu` package) needs to find a Vulkan driver on a machine without a GPU:
// Debian's chromium package ships libvulkan.so.1 and the SwiftShader ICD (a CPU Vulkan) in
// /usr/lib/chromium. Dawn dlopens libvulkan.so.1 with the search path the process started with, so the
// variables must be set before node starts: bin/rankaware.js re-executes itself with them, and
// vitest.config.ts sets them before it forks the test workers.
//
// Nothing is changed when VK_ICD_FILENAMES is already set (the user chose a driver), when the system has
// its own libvulkan.so.1 (a real GPU's driver may be there), when RANKAWARE_SWIFTSHADER=0, or when
// chromium's SwiftShader is not installed.
import { existsSync } from 'node:fs';

export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
const CHROMIUM_LIBS = '/usr/lib/chromium';
const SYSTEM_VULKAN = ['/usr/lib/x86_64-linux-gnu/libvulkan.so.1', '/usr/lib/aarch64-linux-gnu/libvulkan.so.1', '/usr/lib64/libvulkan.so.1', '/usr/lib/libvulkan.so.1'];

/** The variables to add to the environment for SwiftShader WebGPU, or undefined when none are needed. */
export function swiftshaderEnv(env = process.env) {
  if (process.platform !== 'linux' || env.VK_ICD_FILENAMES || env.RANKAWARE_SWIFTSHADER === '0') return undefined;
  if (!existsSync(SWIFTSHADER_ICD) || SYSTEM_VULKAN.some((p) => existsSync(p))) return undefined;
  const libraryPath = env.LD_LIBRARY_PATH ? `${CHROMIUM_LIBS}:${env.LD_LIBRARY_PATH}` : CHROMIUM_LIBS;
  return { VK_ICD_FILENAMES: SWIFTSHADER_ICD, LD_LIBRARY_PATH: libraryPath };
}
