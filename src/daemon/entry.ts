/** What the client spawns to start a background daemon. */
import { main } from './main.js';

void main({ foreground: false });
