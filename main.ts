import { App } from 'cdktf';
import { ExampleClusterStack } from './stacks/example-cluster';

const app = new App();
new ExampleClusterStack(app, 'example-cluster');
app.synth();
