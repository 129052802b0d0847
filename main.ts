import { App } from 'cdktf';
import { SHIPPED_STACKS } from './stacks/shipped';

const app = new App();
for (const [name, make] of Object.entries(SHIPPED_STACKS)) make(app, name);
app.synth();
